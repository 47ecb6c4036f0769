"""Multirun sweeps: the leaderboard kept as jobs end.

The callbacks are imported on first use (Hydra instantiates them by path), so
reading a leaderboard does not load Hydra.
"""

from easy_mlops.lazy import lazy_attributes

_EXPORTS = {
    "LauncherCheckCallback": "easy_mlops.sweeps.launchers",
    "LeaderboardCallback": "easy_mlops.sweeps.leaderboard",
    "QuietOptunaCallback": "easy_mlops.sweeps.quiet",
    "SweepRunCallback": "easy_mlops.sweeps.parent_run",
    "finish_sweep_run": "easy_mlops.sweeps.parent_run",
    "read_leaderboard": "easy_mlops.sweeps.board",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_attributes(__name__, _EXPORTS)
