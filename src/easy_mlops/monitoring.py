"""The monitor of a deployment directory, configured as the deployment's run was.

``predict``, ``evaluate``, ``status`` and the server all log to or read a
deployment's ``logs/`` through this one function; it needs neither pandas nor
the model, so read-only commands stay cheap.
"""

from pathlib import Path

from easy_mlops.deployment.metadata import read_snapshot
from easy_mlops.observability.monitor import ModelMonitor


def deployment_monitor(deployment_dir: str | Path) -> ModelMonitor:
    """A monitor for a deployment's ``logs/``, configured as the deployment's run was."""
    directory = Path(deployment_dir)
    return ModelMonitor.from_snapshot(read_snapshot(directory), directory / "logs")
