"""Multirun sweeps: the leaderboard kept as jobs end.

The callbacks are imported on first use (Hydra instantiates them by path), so
reading a leaderboard does not load Hydra.
"""

from typing import Any

_EXPORTS = {
    "LauncherCheckCallback": "easy_mlops.sweeps.launchers",
    "LeaderboardCallback": "easy_mlops.sweeps.leaderboard",
    "QuietOptunaCallback": "easy_mlops.sweeps.quiet",
    "read_leaderboard": "easy_mlops.sweeps.board",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'easy_mlops.sweeps' has no attribute {name!r}")
