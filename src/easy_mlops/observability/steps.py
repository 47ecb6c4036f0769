"""Observability steps: each reacts to logged metrics and predictions.

A step writes its own files under the deployment's ``logs/`` directory once it
is bound to one (``save``); until then it keeps records in memory, so a
``ModelMonitor`` also works without a deployment, as in the guide's snippets.
"""

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from easy_mlops.config.registry import register
from easy_mlops.counts import PROFILE_MARKER, add_counts
from easy_mlops.files import find_marked_file, write_json_atomic
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
from easy_mlops.metrics import SCORES_UP_TO_ONE, metric_direction
from easy_mlops.observability.drift_statistics import CATEGORICAL, NUMERIC, JensenShannon, numeric_statistic
from easy_mlops.observability.drift_windows import drift_alerts, window_counts, window_hours
from easy_mlops.observability.prediction_index import PredictionBatch, PredictionIndex, RunningStats

log = logging.getLogger(__name__)

METRICS_LOG = "metrics_history.jsonl"
DRIFT_COUNTS = "drift_counts.json"
PROFILE = "profile.json"  # written beside logs/ by the deployment's save_profile step
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

    # A step that writes per batch may instead gather batches and write them at most every
    # ``flush_every_s`` seconds (the server sets it) and on ``flush()``.
    flush_every_s: float = 0.0

    def flush(self) -> None:
        """Write whatever is gathered in memory (nothing, unless the step defers its writes)."""


def read_profile(deployment_dir: Path) -> dict[str, Any] | None:
    """The training profile beside ``logs/``: ``profile.json``, or the JSON file carrying the profile
    marker whatever ``deployment.steps.save_profile.filename`` named it; None when there is none."""
    path = find_marked_file(deployment_dir, PROFILE_MARKER, PROFILE)
    if path is None and (deployment_dir / PROFILE).is_file():
        path = deployment_dir / PROFILE  # written before profiles carried the marker
    return json.loads(path.read_text(encoding="utf-8")) if path is not None else None


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
    """Every metrics payload with its timestamp, model version and source (``metrics_history.jsonl``).

    The source tells the hold-out metrics of training day (``training``) from
    those measured later on labelled live data (``live``, by ``evaluate``), so
    the summary can show them side by side with the trend of the live ones.
    A live evaluation of a classifier also keeps its ``classification``
    details (confusion matrix, per-class scores) for the HTML report.
    """

    name = "metrics_logger"
    filename = METRICS_LOG

    def on_log_metrics(
        self,
        metrics: dict[str, float],
        model_version: str,
        source: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        record = {"timestamp": now(), "model_version": model_version, "metrics": dict(metrics)}
        if source is not None:
            record["source"] = source
        for key, value in (details or {}).items():
            record.setdefault(key, value)  # never in place of the record's own keys
        self._append([record])

    def summary(self) -> dict[str, Any]:
        total, first, last, latest = 0, None, None, {}
        stats: dict[str, list[float]] = {}
        training: dict[str, Any] | None = None
        live = {"evaluations": 0, "last_evaluation": None, "latest_metrics": {}}
        live_stats: dict[str, list[float]] = {}
        for record in self.records():
            metrics = record.get("metrics") or {}
            total += 1
            first = first or record.get("timestamp")
            last, latest = record.get("timestamp"), metrics
            add_values(stats, metrics)
            source = record.get("source")
            if source == "live":
                live.update(latest_metrics=metrics, last_evaluation=record.get("timestamp"))
                live["evaluations"] += 1
                add_values(live_stats, metrics)
            elif source == "training" or training is None:  # logs without sources: the first is training's
                training = metrics
        summary: dict[str, Any] = {
            "total_logs": total,
            "first_log": first,
            "last_log": last,
            "latest_metrics": latest,
            "training_metrics": training or {},
            "live": live,
        }
        if total > 1:
            summary["trends"] = {name: RunningStats.of(values).summary() for name, values in stats.items()}
        if live["evaluations"]:
            live["trends"] = {name: RunningStats.of(values).summary() for name, values in live_stats.items()}
        return summary


def add_values(stats: dict[str, list[float]], metrics: Mapping[str, Any]) -> None:
    """Append each numeric metric of one record to its list in ``stats``."""
    for metric, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            stats.setdefault(metric, []).append(float(value))


@register_step
class PredictionsLoggerStep(_JsonlStep):
    """One record per scored row (``predictions_log.jsonl``) plus a small running index.

    The index (``predictions_log.index.json``) holds the totals, timestamps,
    last five entries and the distribution of predicted values, updated with
    each batch, so summaries cost the same for ten rows or ten million. It
    records how many bytes of the log it covers and catches up from there if a
    writer died between appending and updating it. A writer that appends
    many small batches (the server) sets ``flush_every_s``: it then appends
    lines only, and folds them into the index at most that often (and on
    :meth:`flush`); readers catch up with the rest.
    """

    name = "predictions_logger"
    filename = PREDICTIONS_LOG
    flush_every_s: float = 0.0  # 0: the index is updated with every batch
    flushed_at: float = 0.0

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
        if self.flush_every_s:
            with locked(self.path):
                start, end = append_lines_at(self.path, batch.chunks())
            self.unindexed.append((start, end, batch))
            if time.monotonic() - self.flushed_at >= self.flush_every_s:
                self.flush()
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

    def flush(self) -> None:
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
        self.flushed_at = time.monotonic()

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

    def index(self) -> PredictionIndex:
        """The index of every prediction logged so far, brought up to date with the log."""
        if self.path is not None and self.path.exists():
            with locked(self.path):
                index = self._current_index()
        else:
            index = PredictionIndex()
        for batch in self.pending:
            batch.add_to(index)
        return index

    def summary(self) -> dict[str, Any]:
        return self.index().summary()


@register_step
class MetricThresholdStep(ObservabilityStep):
    """Decide whether a metric value should raise an alert; record alerts per metrics log.

    Each metric has a threshold (its own or ``default_threshold``) and a
    direction (``higher`` is better unless it is an error metric or overridden).
    At log time, scores whose best is 1 (accuracy, R²...) are checked against
    the default threshold and any metric against its own; ``alerts.jsonl``
    gets one evaluation per log.
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
        return metric_name in self.metric_thresholds or metric_name.lower() in SCORES_UP_TO_ONE

    def on_log_metrics(
        self, metrics: dict[str, float], model_version: str, source: str | None = None
    ) -> None:
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
        record = {"timestamp": now(), "model_version": model_version, "alerts": alerts}
        if source is not None:
            record["source"] = source
        self.evaluations._append([record])

    def save(self, log_dir: Path) -> None:
        super().save(log_dir)
        self.evaluations.save(log_dir)

    def load(self, log_dir: Path) -> None:
        super().load(log_dir)
        self.evaluations.load(log_dir)

    def summary(self) -> dict[str, Any]:
        """Evaluations so far; the active alerts are the latest metrics evaluation's and the
        latest drift evaluation's (the ``drift`` step records its own, with ``source: drift``)."""
        evaluations, alerted, latest, last = 0, 0, {}, None
        for record in self.evaluations.records():
            evaluations += 1
            alerted += bool(record.get("alerts"))
            latest["drift" if record.get("source") == "drift" else "metrics"] = record
            last = record.get("timestamp")
        return {
            "evaluations": evaluations,
            "evaluations_with_alerts": alerted,
            "active_alerts": [alert for record in latest.values() for alert in record.get("alerts", [])],
            "last_evaluation": last,
        }


@register_step
class DriftStep(ObservabilityStep):
    """Input and prediction drift against the training profile, from counts kept per hour.

    Each logged batch with its input table is counted on the reference
    profile's bins (``profile.json`` beside ``logs/``) and added to the hour's
    counts in ``drift_counts.json``; a window is a sum of those integer
    vectors. After each write the drift verdict is evaluated, and when the set
    of drifted features, dataset drift or prediction drift changes, an
    evaluation with ``source: drift`` is appended to ``alerts.jsonl``.
    """

    name = "drift"
    filename = DRIFT_COUNTS

    def __init__(
        self,
        window: str = "all",
        numeric_stat: str = "psi",
        psi_warning: float = 0.1,
        psi_threshold: float = 0.25,
        threshold: float = 0.1,
        min_rows: int = 100,
        dataset_drift_share: float = 0.5,
        significance: float = 0.01,
        enabled: bool = True,
    ) -> None:
        super().__init__(enabled)
        # A numeric feature (and a regressor's predictions) by the configured statistic, the rest by
        # the categorical one; an unknown name is one line naming the key and the known ones.
        self.statistics = {NUMERIC: numeric_statistic(numeric_stat), CATEGORICAL: JensenShannon()}
        if not 0 < float(significance) < 1:
            raise ValueError(f"drift significance must be between 0 and 1, got {significance!r}")
        self.window_hours = window_hours(window)
        self.window, self.numeric_stat = str(window), str(numeric_stat)
        self.psi_warning, self.psi_threshold, self.threshold = psi_warning, psi_threshold, threshold
        self.min_rows, self.dataset_drift_share = min_rows, dataset_drift_share
        self.significance = float(significance)
        self.reference: dict[str, Any] | None = None
        self.pending: dict[str, dict[str, Any]] = {}  # hour -> counts not written yet
        self.flushed_at = 0.0

    def load(self, log_dir: Path) -> None:
        super().load(log_dir)
        self.reference = read_profile(Path(log_dir).parent)

    def save(self, output_dir: Path) -> None:
        self.load(output_dir)
        self.flush()

    @property
    def path(self) -> Path | None:
        return self.log_dir / self.filename if self.log_dir else None

    def on_log_predictions(
        self, predictions: Any, model_version: str, metadata: dict | None = None, inputs: Any = None
    ) -> None:
        if self.reference is None:
            return
        import pandas as pd  # counting needs it; the caller scored a table, so it is loaded

        from easy_mlops.profiles import live_counts

        if isinstance(inputs, list) and inputs and all(isinstance(row, dict) for row in inputs):
            inputs = pd.DataFrame.from_records(inputs)
        frame = inputs if isinstance(inputs, pd.DataFrame) else None
        hour = now()[:13]
        self.pending[hour] = add_counts(
            self.pending.get(hour, {}), live_counts(self.reference, frame, predictions)
        )
        if self.path is not None and time.monotonic() - self.flushed_at >= self.flush_every_s:
            self.flush()

    def flush(self) -> None:
        """Add the gathered counts to ``drift_counts.json``; record the verdict when it changed."""
        if self.path is None or not self.pending:
            return
        with locked(self.path):
            hours = self._stored()
            for hour, counts in self.pending.items():
                hours[hour] = add_counts(hours.get(hour, {}), counts)
            write_json_atomic(self.path, {"version": 1, "hours": hours}, indent=None)
            self.pending = {}
            report = self._report(hours)
            alerts = drift_alerts(report)
            previous = self._last_drift_evaluation()
            before = [alert["metric"] for alert in previous.get("alerts", [])] if previous else []
            if [alert["metric"] for alert in alerts] != before:  # what drifted changed, not just by how much
                record = {"timestamp": now(), "source": "drift", "window": self.window, "alerts": alerts}
                append_records(self.log_dir / ALERTS_LOG, [record])
        self.flushed_at = time.monotonic()

    def _stored(self) -> dict[str, Any]:
        """The hourly counts on disk (call with the file locked); a corrupt file is rebuilt."""
        if not self.path.exists():
            return {}
        try:
            hours = json.loads(self.path.read_text(encoding="utf-8"))["hours"]
            if isinstance(hours, dict):
                return hours
        except (ValueError, KeyError, TypeError):
            pass
        return self._rebuild()

    def _rebuild(self) -> dict[str, Any]:
        """Set a corrupt counts file aside and count the predictions log's predictions again.

        The log keeps predictions, not inputs: prediction drift is whole
        again, input drift restarts from the batches logged after this.
        """
        from easy_mlops.profiles import live_counts

        aside = self.path.with_name(f"{self.path.name}.corrupt")
        os.replace(self.path, aside)
        by_hour: dict[str, list[Any]] = {}
        for record in read_records(self.log_dir / PREDICTIONS_LOG):
            by_hour.setdefault(str(record.get("timestamp", ""))[:13], []).append(record.get("prediction"))
        hours = {hour: live_counts(self.reference, None, values) for hour, values in by_hour.items()}
        write_json_atomic(self.path, {"version": 1, "hours": hours}, indent=None)
        log.warning(
            "%s was corrupt (kept as %s): prediction counts rebuilt from %s; input drift counts restart now",
            self.path,
            aside.name,
            PREDICTIONS_LOG,
        )
        return hours

    def _last_drift_evaluation(self) -> dict[str, Any] | None:
        last = None
        for record in read_records(self.log_dir / ALERTS_LOG):
            if record.get("source") == "drift":
                last = record
        return last

    def summary(self) -> dict[str, Any]:
        if self.reference is None:
            return {
                "enabled": False,
                "message": "no reference profile: the deployment was made without its save_profile step "
                "(or before drift monitoring); retrain with deployment.steps.save_profile to monitor drift",
            }
        return self._report(self._hours())

    def current_window(self) -> dict[str, Any]:
        """The live counts in the configured window, shaped like the reference profile's."""
        return window_counts(self._hours(), self.window_hours)

    def _hours(self) -> dict[str, Any]:
        """Stored and gathered counts, per hour."""
        hours = {}
        if self.path is not None and self.path.exists():
            with locked(self.path):
                hours = self._stored()
        for hour, counts in self.pending.items():
            hours[hour] = add_counts(hours.get(hour, {}), counts)
        return hours

    def _report(self, hours: dict[str, Any]) -> dict[str, Any]:
        window = window_counts(hours, self.window_hours)
        rows = window.get("rows", 0)
        report: dict[str, Any] = {
            "window": self.window,
            "rows": rows,
            "min_rows": self.min_rows,
            "significance": self.significance,
        }
        if rows == 0:
            report["message"] = f"no predictions logged in the window ({self.window}) yet"
            return report
        if rows < self.min_rows:
            report["message"] = (
                f"insufficient data: {rows} row(s) in the window, drift needs {self.min_rows} "
                "(observability.drift.min_rows)"
            )
            return report
        compared = {
            name: (profile, current)
            for name, current in window.get("features", {}).items()
            if (profile := self.reference["features"].get(name)) is not None
            and len(current) == len(profile["counts"])
        }
        prediction = window.get("prediction")
        # Bonferroni: significance bounds the chance that a window without drift raises any drift alert.
        alpha = self.significance / (len(compared) + (prediction is not None))
        features = {
            name: {"kind": profile["kind"], **self._verdict(profile, current, alpha)}
            for name, (profile, current) in compared.items()
        }
        drifted = sum(feature["drifted"] for feature in features.values())
        share = drifted / len(features) if features else 0.0
        report.update(
            dataset_drift=bool(features) and share >= self.dataset_drift_share,
            share_drifted=share,
            features=dict(sorted(features.items(), key=lambda item: -item[1]["score"])),
        )
        if prediction is not None:
            report["prediction"] = self._verdict(self.reference["prediction"], prediction, alpha)
        return report

    def _verdict(self, profile: dict[str, Any], current: list[float], alpha: float) -> dict[str, Any]:
        """``{stat, score, threshold, applied_threshold, p_value, drifted}`` (and ``warning``, for a
        statistic with a warning level: PSI) of one profiled column against its live counts, by the
        statistic for its kind (:mod:`easy_mlops.observability.drift_statistics`).

        ``threshold`` is the configured one: the smallest change worth an alert. ``applied_threshold``
        is the higher of it and the score that sampling alone passes with probability ``alpha`` at this
        window's and the reference's row counts (:mod:`easy_mlops.observability.drift_null`);
        ``p_value`` is the chance of this score from sampling alone (null when a side has no values).
        """
        statistic = self.statistics[profile["kind"]]
        value = float(statistic.score(profile, current))
        limit = getattr(self, statistic.threshold_setting)
        null = statistic.null(profile, current)
        noise = null.critical(alpha) if null is not None else 0.0
        applied = max(limit, noise)
        verdict = {
            "stat": statistic.name,
            "score": value,
            "threshold": limit,
            "applied_threshold": applied,
            "p_value": null.p_value(value) if null is not None else None,
            "drifted": value >= applied,
        }
        if statistic.warning_setting is not None:  # past the warning level, and past sampling alone
            verdict["warning"] = max(getattr(self, statistic.warning_setting), noise) <= value < applied
        return verdict
