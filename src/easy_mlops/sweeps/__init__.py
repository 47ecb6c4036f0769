"""Multirun sweeps: the leaderboard kept as jobs end."""

from easy_mlops.sweeps.launchers import LauncherCheckCallback
from easy_mlops.sweeps.leaderboard import LeaderboardCallback, read_leaderboard
from easy_mlops.sweeps.quiet import QuietOptunaCallback

__all__ = ["LauncherCheckCallback", "LeaderboardCallback", "QuietOptunaCallback", "read_leaderboard"]
