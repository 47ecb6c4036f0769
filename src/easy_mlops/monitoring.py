"""The monitor of a deployment directory, configured as the deployment's run was.

``predict``, ``evaluate``, ``status`` and the server all log to or read a
deployment's ``logs/`` through these functions; they need neither pandas, nor
the model, nor (for a snapshot of registered steps) OmegaConf, so read-only
commands stay cheap. Readers see every machine's logs of a deployment with a
log location (:mod:`easy_mlops.log_shipping`), writers prepare their spool.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from easy_mlops.deployment.metadata import read_snapshot_data
from easy_mlops.log_shipping import log_view, prepare_spool
from easy_mlops.observability.steps import ALERTS_LOG, MetricThresholdStep, PredictionsLoggerStep

if TYPE_CHECKING:
    from easy_mlops.observability.monitor import Monitor
    from easy_mlops.observability.segments import SegmentBuilder


def deployment_monitor(deployment_dir: str | Path) -> "Monitor":
    """A monitor that logs to a deployment's ``logs/``, configured as the deployment's run was."""
    from easy_mlops.observability.monitor import Monitor  # OmegaConf: not for ``list``

    directory = Path(deployment_dir)
    prepare_spool(directory)
    return Monitor.from_snapshot(read_snapshot_data(directory), directory / "logs")


@dataclass
class SegmentLogging:
    """What a writer that logs through a log segment (a streamed ``predict``, a Ray task) logs, as
    the deployment's observability steps say: the segment stands in for the built-in steps."""

    predictions: bool  # the predictions logger is on: each row's line and the index
    profile: dict[str, Any] | None  # the drift step's training profile: drift counts; None when off
    own_steps: list = field(default_factory=list)  # the user's steps that take predictions

    def builder(self, writer: str, seq: int) -> "SegmentBuilder":
        from easy_mlops.observability.segments import SegmentBuilder

        return SegmentBuilder(writer, seq, self.profile, self.predictions)


def segment_logging(deployment_dir: str | Path) -> SegmentLogging:
    """:class:`SegmentLogging` of a deployment, from its configured observability steps."""
    from easy_mlops.observability.steps import DriftStep, ObservabilityStep

    steps = deployment_monitor(deployment_dir).steps
    drift = next((step for step in steps if isinstance(step, DriftStep)), None)
    built_in = (PredictionsLoggerStep, DriftStep, MetricThresholdStep)
    return SegmentLogging(
        predictions=any(isinstance(step, PredictionsLoggerStep) for step in steps),
        profile=drift.reference if drift is not None else None,
        own_steps=[
            step
            for step in steps
            if not isinstance(step, built_in)
            and (
                type(step).on_log_predictions is not ObservabilityStep.on_log_predictions
                or type(step).on_log_prediction is not ObservabilityStep.on_log_prediction
            )
        ],
    )


@contextmanager
def reading_monitor(deployment_dir: str | Path) -> Iterator["Monitor"]:
    """A monitor over everything logged for a deployment, on this machine or shipped from others.

    Across machines, drift alerts are the verdict on the summed counts: each
    machine's own verdicts (on its share of the rows) are left out.
    """
    from easy_mlops.jsonl import append_records
    from easy_mlops.jsonsafe import now
    from easy_mlops.observability.drift_windows import drift_alerts
    from easy_mlops.observability.monitor import Monitor
    from easy_mlops.observability.steps import DriftStep

    directory = Path(deployment_dir)
    with log_view(directory) as logs:
        monitor = Monitor.from_snapshot(read_snapshot_data(directory), logs)
        drift = next((step for step in monitor.steps if isinstance(step, DriftStep)), None)
        if logs != directory / "logs" and drift is not None and drift.reference is not None:
            record = {"timestamp": now(), "source": "drift", "window": drift.window}
            append_records(logs / ALERTS_LOG, [{**record, "alerts": drift_alerts(drift.summary())}])
        yield monitor


def logged_counts(deployment_dir: str | Path) -> tuple[int, int]:
    """``(active alerts, logged predictions)`` of a deployment, read from two small files in its logs.

    What ``list`` shows for each deployment: the recorded evaluations and the
    predictions index do not depend on the config, so the snapshot is not
    read and no monitor is built (that is most of what ``status`` costs).
    """
    with log_view(deployment_dir) as logs:
        alerts, predictions = MetricThresholdStep(), PredictionsLoggerStep()
        alerts.load(logs)
        predictions.load(logs)
        return len(alerts.summary()["active_alerts"]), predictions.summary().get("total_predictions", 0)
