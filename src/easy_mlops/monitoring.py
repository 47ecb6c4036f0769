"""The monitor of a deployment directory, configured as the deployment's run was.

``predict``, ``evaluate``, ``status`` and the server all log to or read a
deployment's ``logs/`` through this one function; it needs neither pandas, nor
the model, nor (for a snapshot of registered steps) OmegaConf, so read-only
commands stay cheap.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from easy_mlops.deployment.metadata import read_snapshot_data
from easy_mlops.observability.steps import MetricThresholdStep, PredictionsLoggerStep

if TYPE_CHECKING:
    from easy_mlops.observability.monitor import Monitor


def deployment_monitor(deployment_dir: str | Path) -> "Monitor":
    """A monitor for a deployment's ``logs/``, configured as the deployment's run was."""
    from easy_mlops.observability.monitor import Monitor  # OmegaConf: not for ``list``

    directory = Path(deployment_dir)
    return Monitor.from_snapshot(read_snapshot_data(directory), directory / "logs")


def logged_counts(deployment_dir: str | Path) -> tuple[int, int]:
    """``(active alerts, logged predictions)`` of a deployment, read from two small files in its logs.

    What ``list`` shows for each deployment: the recorded evaluations and the
    predictions index do not depend on the config, so the snapshot is not
    read and no monitor is built (that is most of what ``status`` costs).
    """
    logs = Path(deployment_dir) / "logs"
    alerts, predictions = MetricThresholdStep(), PredictionsLoggerStep()
    alerts.load(logs)
    predictions.load(logs)
    return len(alerts.summary()["active_alerts"]), predictions.summary().get("total_predictions", 0)
