"""Observability steps: each reacts to logged metrics and predictions.

A step writes its own files under the deployment's ``logs/`` directory once it
is bound to one (``save``); until then it keeps records in memory, so a
``ModelMonitor`` also works without a deployment, as in the guide's snippets.
"""

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from easy_mlops.config.instantiate import register
from easy_mlops.files import write_json_atomic
from easy_mlops.jsonl import (
    append_lines,
    append_lines_at,
    append_records,
    locked,
    read_lines,
    read_records,
    tail_fingerprint,
)
from easy_mlops.jsonsafe import now
from easy_mlops.metrics import BOUNDED_METRICS, metric_direction
from easy_mlops.observability.prediction_index import PredictionBatch, PredictionIndex, RunningStats

log = logging.getLogger(__name__)

METRICS_LOG = "metrics_history.jsonl"
PREDICTIONS_LOG = "predictions_log.jsonl"
PREDICTIONS_INDEX = "predictions_log.index.json"
ALERTS_LOG = "alerts.jsonl"
CATCH_UP_CHUNK = 10_000  # records folded into the index at a time when it catches up with the log

# name -> step class: what a bare name in ``observability.steps`` stands for.
STEP_REGISTRY: dict[str, type["ObservabilityStep"]] = {}


def register_step(step_cls: type) -> type:
    """Make an :class:`ObservabilityStep` subclass nameable in ``observability.steps`` (a decorator too)."""
    return register(STEP_REGISTRY, ObservabilityStep, step_cls)


class ObservabilityStep:
    """Base class: override the hooks you need; ``summary`` feeds status and reports.

    The guide's steps implement ``on_log_metrics`` and the per-row
    ``on_log_prediction``; a step that logs whole batches at once overrides
    ``on_log_predictions`` instead (the built-in predictions logger does).
    """

    name: ClassVar[str] = ""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.log_dir: Path | None = None

    def on_log_metrics(self, metrics: dict[str, float], model_version: str) -> None:
        """Called once per metrics payload."""

    def on_log_prediction(
        self, input_data: Any, prediction: Any, model_version: str, metadata: dict | None = None
    ) -> None:
        """Called once per prediction row, with that row's input (None when the caller has none)."""

    def on_log_predictions(
        self, predictions: Any, model_version: str, metadata: dict | None = None, inputs: Any = None
    ) -> None:
        """Called once per batch; the default forwards each row to ``on_log_prediction``.

        ``inputs`` is the batch's input table (a DataFrame) or a list with one
        input per row; each row's input reaches the per-row hook as a dict.
        """
        if type(self).on_log_prediction is ObservabilityStep.on_log_prediction:
            return  # no per-row hook: skip a million no-op calls on a million-row batch
        for position, prediction in enumerate(predictions):
            self.on_log_prediction(row_input(inputs, position), prediction, model_version, metadata)

    def save(self, output_dir: Path) -> None:
        """Bind to ``output_dir`` and persist anything still held in memory."""
        self.log_dir = Path(output_dir)

    def load(self, log_dir: Path) -> None:
        """Bind to ``log_dir``; logs stay on disk and are streamed when summarised."""
        self.log_dir = Path(log_dir)

    def summary(self) -> dict[str, Any] | None:
        return None


def row_input(inputs: Any, position: int) -> Any:
    """The input of one row of a batch: a dict for a table's row, the item itself for a list."""
    if inputs is None:
        return None
    if hasattr(inputs, "iloc"):
        return inputs.iloc[position].to_dict()
    return inputs[position]


class _JsonlStep(ObservabilityStep):
    """A step whose records go to one JSON Lines file (memory until bound)."""

    filename: ClassVar[str] = ""

    def __init__(self, enabled: bool = True) -> None:
        super().__init__(enabled)
        self.pending: list[dict[str, Any]] = []

    @property
    def path(self) -> Path | None:
        return self.log_dir / self.filename if self.log_dir else None

    def _append(self, records: list[dict[str, Any]]) -> None:
        if self.path is None:
            self.pending.extend(records)
        else:
            append_records(self.path, records)

    def save(self, log_dir: Path) -> None:
        super().save(log_dir)
        if self.pending:
            append_records(self.path, self.pending)
            self.pending = []

    def records(self):
        """Every record, streamed from disk, then those still in memory."""
        if self.path is not None:
            yield from read_records(self.path)
        yield from self.pending


@register_step
class MetricsLoggerStep(_JsonlStep):
    """Every metrics payload with its timestamp and model version (``metrics_history.jsonl``)."""

    name = "metrics_logger"
    filename = METRICS_LOG

    def on_log_metrics(self, metrics: dict[str, float], model_version: str) -> None:
        self._append([{"timestamp": now(), "model_version": model_version, "metrics": dict(metrics)}])

    def summary(self) -> dict[str, Any]:
        total, first, last, latest = 0, None, None, {}
        stats: dict[str, list[float]] = {}
        for record in self.records():
            metrics = record.get("metrics") or {}
            total += 1
            first = first or record.get("timestamp")
            last, latest = record.get("timestamp"), metrics
            for metric, value in metrics.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    stats.setdefault(metric, []).append(float(value))
        summary: dict[str, Any] = {
            "total_logs": total,
            "first_log": first,
            "last_log": last,
            "latest_metrics": latest,
        }
        if total > 1:
            summary["trends"] = {name: RunningStats.of(values).summary() for name, values in stats.items()}
        return summary


@register_step
class PredictionsLoggerStep(_JsonlStep):
    """One record per scored row (``predictions_log.jsonl``) plus a small running index.

    The index (``predictions_log.index.json``) holds the totals, timestamps,
    last five entries and the distribution of predicted values, updated with
    each batch, so summaries cost the same for ten rows or ten million. It
    records how many bytes of the log it covers and catches up from there if a
    writer died between appending and updating it. A writer that appends
    many small batches (the server) sets ``index_every_s``: it then appends
    lines only, and folds them into the index at most that often (and on
    :meth:`refresh_index`); readers catch up with the rest.
    """

    name = "predictions_logger"
    filename = PREDICTIONS_LOG
    index_every_s: float = 0.0  # 0: the index is updated with every batch
    indexed_at: float = 0.0

    def __init__(self, enabled: bool = True) -> None:
        super().__init__(enabled)
        self.unindexed: list[tuple[int, int, PredictionBatch]] = []  # appended, not yet in the index

    def on_log_predictions(
        self, predictions: Any, model_version: str, metadata: dict | None = None, inputs: Any = None
    ) -> None:
        """One record per row; a row's input is recorded only when given as a list (the per-row API),
        never a whole scored table's (that would copy every file into the log)."""
        batch = PredictionBatch(
            predictions, model_version, metadata, inputs=inputs if isinstance(inputs, list) else None
        )
        if self.path is None:
            self.pending.append(batch)
        else:
            self._append_and_index(batch)

    def on_log_prediction(
        self, input_data: Any, prediction: Any, model_version: str, metadata: dict | None = None
    ) -> None:
        self.on_log_predictions([prediction], model_version, metadata, inputs=[input_data])

    def records(self):
        """Every record, streamed from disk, then those of batches still in memory."""
        if self.path is not None:
            yield from read_records(self.path)
        for batch in self.pending:
            yield from (batch.record(position) for position in range(len(batch.values)))

    def save(self, log_dir: Path) -> None:
        ObservabilityStep.save(self, log_dir)
        for batch in self.pending:
            self._append_and_index(batch)
        self.pending = []

    def _append_and_index(self, batch: PredictionBatch) -> None:
        if self.index_every_s:
            with locked(self.path):
                start, end = append_lines_at(self.path, batch.chunks())
            self.unindexed.append((start, end, batch))
            if time.monotonic() - self.indexed_at >= self.index_every_s:
                self.refresh_index()
            return
        with locked(self.path):
            index = self._current_index()
            if self.path.exists() and self.path.stat().st_size > index.log_bytes:
                # A writer died mid-line; append_lines closes that line first.
                index.lines += 1
                log.warning("%s line %d: incomplete record, skipped", self.path, index.lines)
            index.log_bytes = append_lines(self.path, batch.chunks())
            batch.add_to(index)
            self._write_index(index)

    def refresh_index(self) -> None:
        """Fold whatever the log has beyond the index into it, and write it.

        Lines this step appended itself are folded from the batches it still
        holds, without reading them back; only other writers' lines are read.
        """
        if self.path is None or not self.path.exists():
            return
        with locked(self.path):
            index = self._read_index() if self.index_path.exists() else PredictionIndex()
            for start, end, batch in self.unindexed:
                if end <= index.log_bytes:
                    continue  # another writer's refresh read these lines already
                self._read_into(index, stop=start)
                batch.add_to(index)
                index.log_bytes = end
            self._read_into(index)
            self._write_index(index)
        self.unindexed = []
        self.indexed_at = time.monotonic()

    @property
    def index_path(self) -> Path:
        return self.log_dir / PREDICTIONS_INDEX

    def _write_index(self, index: PredictionIndex) -> None:
        index.log_tail = tail_fingerprint(self.path, index.log_bytes)
        write_json_atomic(self.index_path, index.to_json(), indent=None)  # rewritten per batch: compact

    def _read_index(self) -> PredictionIndex:
        """The stored index if it still describes a prefix of the log, else an empty one."""
        try:
            index = PredictionIndex.from_json(json.loads(self.index_path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            index = None
        size = self.path.stat().st_size if self.path.exists() else 0
        if (
            index is None
            or index.log_bytes > size
            or index.log_tail != tail_fingerprint(self.path, index.log_bytes)
        ):
            log.warning("%s does not match %s; rebuilding it", self.index_path, self.path)
            return PredictionIndex()
        return index

    def _current_index(self) -> PredictionIndex:
        """The index brought up to date with the log: only the unindexed tail is read."""
        index = self._read_index() if self.index_path.exists() else PredictionIndex()
        self._read_into(index)
        return index

    def _read_into(self, index: PredictionIndex, stop: int | None = None) -> None:
        """Fold the log's lines from ``index.log_bytes`` (to ``stop``) into ``index``."""
        chunk: list[dict[str, Any]] = []
        for end, line, record in read_lines(self.path, index.log_bytes, index.lines + 1, stop):
            if record is not None:
                chunk.append(record)
            if len(chunk) == CATCH_UP_CHUNK:
                index.add_records(chunk)
                chunk = []
            index.log_bytes, index.lines = end, line
        index.add_records(chunk)

    def summary(self) -> dict[str, Any]:
        if self.path is not None and self.path.exists():
            with locked(self.path):
                index = self._current_index()
        else:
            index = PredictionIndex()
        for batch in self.pending:
            batch.add_to(index)
        return index.summary()


@register_step
class MetricThresholdStep(ObservabilityStep):
    """Decide whether a metric value should raise an alert; record alerts per metrics log.

    Each metric has a threshold (its own or ``default_threshold``) and a
    direction (``higher`` is better unless it is an error metric or overridden).
    At log time, bounded scores are checked against the default threshold and
    any metric against its own; ``alerts.jsonl`` gets one evaluation per log.
    """

    name = "metric_threshold"

    def __init__(
        self,
        default_threshold: float = 0.8,
        metric_thresholds: Mapping[str, float] | None = None,
        metric_directions: Mapping[str, str] | None = None,
        enabled: bool = True,
    ) -> None:
        super().__init__(enabled)
        self.default_threshold = float(default_threshold)
        self.metric_thresholds = {k: float(v) for k, v in (metric_thresholds or {}).items()}
        self.metric_directions = dict(metric_directions or {})
        for metric in self.metric_directions:
            metric_direction(metric, self.metric_directions)  # reject bad directions early
        self.evaluations = _JsonlStep()
        self.evaluations.filename = ALERTS_LOG

    def threshold(self, metric_name: str) -> float:
        return self.metric_thresholds.get(metric_name, self.default_threshold)

    def check_metric_threshold(self, metric_name: str, value: float) -> bool:
        """True when ``value`` is on the wrong side of the metric's threshold."""
        threshold = self.threshold(metric_name)
        if metric_direction(metric_name, self.metric_directions) == "higher":
            return value < threshold
        return value > threshold

    def watched(self, metric_name: str) -> bool:
        return metric_name in self.metric_thresholds or metric_name.lower() in BOUNDED_METRICS

    def on_log_metrics(self, metrics: dict[str, float], model_version: str) -> None:
        alerts = [
            {
                "metric": name,
                "value": value,
                "threshold": self.threshold(name),
                "direction": metric_direction(name, self.metric_directions),
            }
            for name, value in metrics.items()
            if isinstance(value, (int, float))
            and self.watched(name)
            and self.check_metric_threshold(name, value)
        ]
        self.evaluations._append([{"timestamp": now(), "model_version": model_version, "alerts": alerts}])

    def save(self, log_dir: Path) -> None:
        super().save(log_dir)
        self.evaluations.save(log_dir)

    def load(self, log_dir: Path) -> None:
        super().load(log_dir)
        self.evaluations.load(log_dir)

    def summary(self) -> dict[str, Any]:
        evaluations, latest, alerted = 0, None, 0
        for record in self.evaluations.records():
            evaluations += 1
            latest = record
            alerted += bool(record.get("alerts"))
        return {
            "evaluations": evaluations,
            "evaluations_with_alerts": alerted,
            "active_alerts": list(latest.get("alerts", [])) if latest else [],
            "last_evaluation": latest.get("timestamp") if latest else None,
        }
