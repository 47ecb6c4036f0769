"""Observability steps: each reacts to logged metrics and predictions.

A step writes its own files under the deployment's ``logs/`` directory once it
is bound to one (``save``); until then it keeps records in memory, so a
``ModelMonitor`` also works without a deployment, as in the guide's snippets.
"""

import json
import logging
import math
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from easy_mlops.files import write_json_atomic
from easy_mlops.observability.jsonl import (
    append_lines,
    append_records,
    locked,
    read_lines,
    read_records,
    tail_fingerprint,
)

log = logging.getLogger(__name__)

METRICS_LOG = "metrics_history.jsonl"
PREDICTIONS_LOG = "predictions_log.jsonl"
PREDICTIONS_INDEX = "predictions_log.index.json"
ALERTS_LOG = "alerts.jsonl"

HIGHER_IS_BETTER = {
    "accuracy",
    "f1",
    "f1_score",
    "precision",
    "recall",
    "r2",
    "r2_score",
    "roc_auc",
    "balanced_accuracy",
}
LOWER_IS_BETTER = {"mse", "rmse", "mae", "mape", "log_loss", "loss", "error"}
# Metrics bounded by [0, 1]: compared with the global alert_threshold when no
# per-metric threshold is set. Scale-dependent errors (rmse...) need their own.
BOUNDED_METRICS = HIGHER_IS_BETTER


def metric_direction(name: str, overrides: Mapping[str, str] | None = None) -> str:
    """``higher`` or ``lower``: which way is better for ``name``."""
    if overrides and name in overrides:
        direction = str(overrides[name]).lower()
        if direction not in ("higher", "lower"):
            raise ValueError(f"metric direction for '{name}' must be 'higher' or 'lower', got {direction!r}")
        return direction
    lowered = name.lower()
    if lowered in LOWER_IS_BETTER or lowered.endswith(("_error", "_loss")):
        return "lower"
    return "higher"


class ObservabilityStep:
    """Base class: override the hooks you need; ``summary`` feeds status and reports."""

    name: ClassVar[str] = ""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.log_dir: Path | None = None

    def on_log_metrics(self, metrics: dict[str, float], model_version: str) -> None:
        """Called once per metrics payload."""

    def on_log_prediction(self, prediction: Any, model_version: str, metadata: dict | None = None) -> None:
        """Called once per prediction row (only when ``on_log_predictions`` is not overridden)."""

    def on_log_predictions(self, predictions: list, model_version: str, metadata: dict | None = None) -> None:
        """Called once per batch; the default forwards each row to ``on_log_prediction``."""
        if type(self).on_log_prediction is ObservabilityStep.on_log_prediction:
            return  # no per-row hook: skip a million no-op calls on a million-row batch
        for prediction in predictions:
            self.on_log_prediction(prediction, model_version, metadata)

    def save(self, log_dir: Path) -> None:
        """Bind to ``log_dir`` and persist anything still held in memory."""
        self.log_dir = Path(log_dir)

    def load(self, log_dir: Path) -> None:
        """Bind to ``log_dir``; logs stay on disk and are streamed when summarised."""
        self.log_dir = Path(log_dir)

    def summary(self) -> dict[str, Any] | None:
        return None


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
            summary["trends"] = {
                name: _stats(_merge_stats(empty_index()["numeric"], np.array(values)))
                for name, values in stats.items()
            }
        return summary


class PredictionsLoggerStep(_JsonlStep):
    """One record per scored row (``predictions_log.jsonl``) plus a small running index.

    The index (``predictions_log.index.json``) holds the totals, timestamps,
    last five entries and the distribution of predicted values, updated with
    each batch, so summaries cost the same for ten rows or ten million. It
    records how many bytes of the log it covers and catches up from there if a
    writer died between appending and updating it.
    """

    name = "predictions_logger"
    filename = PREDICTIONS_LOG

    def on_log_predictions(self, predictions: Any, model_version: str, metadata: dict | None = None) -> None:
        batch = PredictionBatch(predictions, model_version, metadata)
        if self.path is None:
            self.pending.append(batch)
        else:
            self._append_and_index(batch)

    def on_log_prediction(self, prediction: Any, model_version: str, metadata: dict | None = None) -> None:
        self.on_log_predictions([prediction], model_version, metadata)

    def save(self, log_dir: Path) -> None:
        ObservabilityStep.save(self, log_dir)
        for batch in self.pending:
            self._append_and_index(batch)
        self.pending = []

    def _append_and_index(self, batch: "PredictionBatch") -> None:
        with locked(self.path):
            index = self._current_index()
            if self.path.exists() and self.path.stat().st_size > index["log_bytes"]:
                # A writer died mid-line; append_lines closes that line first.
                index["lines"] += 1
                log.warning("%s line %d: incomplete record, skipped", self.path, index["lines"])
            index["log_bytes"] = append_lines(self.path, batch.chunks())
            batch.add_to(index)
            self._write_index(index)

    @property
    def index_path(self) -> Path:
        return self.log_dir / PREDICTIONS_INDEX

    def _write_index(self, index: dict[str, Any]) -> None:
        index["log_tail"] = tail_fingerprint(self.path, index["log_bytes"])
        write_json_atomic(self.index_path, index)

    def _read_index(self) -> dict[str, Any]:
        """The stored index if it still describes a prefix of the log, else an empty one."""
        try:
            index = json.loads(self.index_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return empty_index()
        size = self.path.stat().st_size if self.path.exists() else 0
        if (
            not isinstance(index, dict)
            or index.get("version") != INDEX_VERSION
            or index.get("log_bytes", 0) > size
            or index.get("log_tail") != tail_fingerprint(self.path, index["log_bytes"])
        ):
            log.warning("%s does not match %s; rebuilding it", self.index_path, self.path)
            return empty_index()
        return index

    def _current_index(self) -> dict[str, Any]:
        """The index brought up to date with the log: only the unindexed tail is read."""
        index = self._read_index() if self.index_path.exists() else empty_index()
        chunk: list[dict[str, Any]] = []
        for end, line, record in read_lines(self.path, index["log_bytes"], index["lines"] + 1):
            if record is not None:
                chunk.append(record)
            if len(chunk) == CATCH_UP_CHUNK:
                add_records(index, chunk)
                chunk = []
            index["log_bytes"], index["lines"] = end, line
        add_records(index, chunk)
        return index

    def summary(self) -> dict[str, Any]:
        if self.path is not None and self.path.exists():
            with locked(self.path):
                index = self._current_index()
        else:
            index = empty_index()
        for batch in self.pending:
            batch.add_to(index)
        return {
            "total_predictions": index["total"],
            "first_prediction": index["first"],
            "last_prediction": index["last"],
            "recent_predictions": index["recent"],
            "distribution": distribution(index),
        }


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


def now() -> str:
    from datetime import datetime

    return datetime.now(UTC).isoformat()


def json_safe(value: Any) -> Any:
    """Scalars as JSON scalars; anything else (arrays, objects) as a string."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def json_values(values: Any) -> list:
    """``json_safe`` for a whole batch: a 1-D array of numbers, booleans or text converts in bulk."""
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "biufU":
        converted = values.tolist()
        if values.dtype.kind == "f":
            for position in np.flatnonzero(~np.isfinite(values)).tolist():
                converted[position] = str(converted[position])
        return converted
    items = values.tolist() if hasattr(values, "tolist") else list(values)
    return [json_safe(value) for value in items]


def numeric_values(predictions: Any, values: list) -> np.ndarray:
    """The finite numbers among JSON-ready ``values`` as floats (booleans and text left out).

    Taken straight from ``predictions`` when it is a 1-D integer or float array.
    """
    if isinstance(predictions, np.ndarray) and predictions.ndim == 1 and predictions.dtype.kind in "iuf":
        numbers = predictions.astype(float)
        return numbers[np.isfinite(numbers)] if predictions.dtype.kind == "f" else numbers
    return np.array([v for v in values if type(v) in (int, float)], dtype=float)


INDEX_VERSION = 1
CATCH_UP_CHUNK = 10_000
LINES_PER_WRITE = 50_000
RESERVOIR_SIZE = 2048
MAX_CLASSES = 100


class PredictionBatch:
    """Predictions logged together: one timestamp, version and metadata for all rows."""

    def __init__(
        self,
        predictions: Any,
        model_version: str,
        metadata: dict | None = None,
        timestamp: str | None = None,
        first_row: int = 0,
    ) -> None:
        self.values = json_values(predictions)
        self.numbers = numeric_values(predictions, self.values)
        self.model_version = str(model_version)
        self.metadata = metadata or None
        self.timestamp = timestamp or now()
        self.first_row = first_row

    def record(self, position: int) -> dict[str, Any]:
        record = {
            "timestamp": self.timestamp,
            "model_version": self.model_version,
            "row": self.first_row + position,
            "prediction": self.values[position],
        }
        if self.metadata:
            record["metadata"] = self.metadata
        return record

    def chunks(self) -> Iterator[str]:
        """The JSON Lines text of the batch, ``LINES_PER_WRITE`` lines at a time.

        Values are encoded with one ``json.dumps`` per chunk when they are all
        numbers, else one per value; only the row number varies per line.
        """
        stamp, version = json.dumps(self.timestamp), json.dumps(self.model_version)
        head = f'{{"timestamp": {stamp}, "model_version": {version}, "row": '
        tail = f', "metadata": {json.dumps(self.metadata, default=str)}}}\n' if self.metadata else "}\n"
        numbers_only = self.numbers.size == len(self.values)
        for start in range(0, len(self.values), LINES_PER_WRITE):
            values = self.values[start : start + LINES_PER_WRITE]
            encoded = json.dumps(values)[1:-1].split(", ") if numbers_only else map(json.dumps, values)
            first = self.first_row + start
            yield "".join(f'{head}{first + i}, "prediction": {v}{tail}' for i, v in enumerate(encoded))

    def add_to(self, index: dict[str, Any]) -> None:
        """Fold this batch into a predictions index (the lines are counted as written)."""
        if self.values:
            recent = [self.record(i) for i in range(max(0, len(self.values) - 5), len(self.values))]
            add_values(index, self.values, self.timestamp, self.timestamp, recent, self.numbers)
            index["lines"] += len(self.values)


def add_records(index: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Fold records read back from the log into an index (lines are counted by the reader)."""
    if records:
        values = [record.get("prediction") for record in records]
        add_values(index, values, records[0].get("timestamp"), records[-1].get("timestamp"), records[-5:])


def add_values(
    index: dict[str, Any],
    values: list,
    first: Any,
    last: Any,
    recent: list,
    numbers: np.ndarray | None = None,
) -> None:
    """Update totals, timestamps, recent entries and distribution in time proportional to ``values``.

    ``numbers`` are the numeric ones among ``values`` when the caller has them already.
    """
    index["total"] += len(values)
    index["first"] = index["first"] or first
    index["last"] = last
    index["recent"] = (index["recent"] + recent)[-5:]
    if index["counts"] is not None:
        counts = index["counts"]
        # Count raw values, then encode each distinct one: one json.dumps per class, not per row.
        for value, count in Counter(values).items():
            key = value if isinstance(value, str) else json.dumps(value)
            counts[key] = counts.get(key, 0) + count
        if len(counts) > MAX_CLASSES:
            index["counts"] = None  # too many distinct values to be classes
    if numbers is None:
        numbers = numeric_values(None, values)
    if numbers.size:
        index["numeric"] = _merge_stats(index["numeric"], numbers)
        index["reservoir"] = _merge_sample(index["reservoir"], numbers, index["total"])


def empty_index() -> dict[str, Any]:
    return {
        "version": INDEX_VERSION,
        "log_bytes": 0,
        "lines": 0,
        "total": 0,
        "first": None,
        "last": None,
        "recent": [],
        "counts": {},
        "numeric": [0, 0.0, 0.0, None, None],
        "reservoir": [],
    }


def _merge_stats(state: list, values: np.ndarray) -> list:
    """Chan et al.'s parallel update of count, mean, M2, min and max."""
    count, mean, m2, low, high = state
    n, batch_mean = values.size, float(values.mean())
    batch_m2 = float(((values - batch_mean) ** 2).sum())
    total = count + n
    delta = batch_mean - mean
    return [
        total,
        mean + delta * n / total,
        m2 + batch_m2 + delta * delta * count * n / total,
        float(values.min()) if low is None else min(low, float(values.min())),
        float(values.max()) if high is None else max(high, float(values.max())),
    ]


def _merge_sample(sample: list, values: np.ndarray, seed: int) -> list:
    """A uniform sample of every value seen: keep the values with the smallest random keys."""
    keys = np.random.default_rng(seed).random(values.size)
    if values.size > RESERVOIR_SIZE:
        keep = np.argpartition(keys, RESERVOIR_SIZE)[:RESERVOIR_SIZE]
        keys, values = keys[keep], values[keep]
    merged = sample + [[float(k), float(v)] for k, v in zip(keys, values, strict=True)]
    merged.sort(key=lambda pair: pair[0])
    return merged[:RESERVOIR_SIZE]


def _stats(state: list) -> dict[str, float]:
    count, mean, m2, low, high = state
    return {
        "count": count,
        "mean": mean,
        "std": math.sqrt(m2 / count) if count else 0.0,
        "min": low,
        "max": high,
    }


def distribution(index: dict[str, Any]) -> dict[str, Any]:
    """Class counts when predictions look like classes, else mean, std and quantiles."""
    if index["total"] == 0:
        return {}
    if index["counts"] is not None and (index["numeric"][0] == 0 or len(index["counts"]) <= 20):
        counts = sorted(index["counts"].items(), key=lambda kv: -kv[1])
        return {"kind": "classes", "counts": dict(counts)}
    sample = sorted(value for _, value in index["reservoir"])
    quantiles = {
        f"p{round(q * 100)}": sample[min(len(sample) - 1, round(q * (len(sample) - 1)))]
        for q in (0.05, 0.25, 0.5, 0.75, 0.95)
    }
    return {
        "kind": "numeric",
        **_stats(index["numeric"]),
        "quantiles": quantiles,
        "quantiles_exact": index["numeric"][0] <= RESERVOIR_SIZE,
    }
