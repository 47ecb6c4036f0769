"""Multirun sweeps: the leaderboard kept as jobs end."""

from easy_mlops.sweeps.launchers import LauncherCheckCallback
from easy_mlops.sweeps.leaderboard import LeaderboardCallback, read_leaderboard

__all__ = ["LauncherCheckCallback", "LeaderboardCallback", "read_leaderboard"]
