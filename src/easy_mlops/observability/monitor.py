"""Monitor: the observability pipeline of one deployment.

The guide's ``ModelMonitor`` (:mod:`easy_mlops.observability.guide`) adds the
original package's names to it.
"""

import inspect
from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from easy_mlops.config.config import ObservabilityConfig
from easy_mlops.config.instantiate import instantiate_steps
from easy_mlops.observability import steps as builtin
from easy_mlops.observability.drift_statistics import numeric_statistic

PREDICTIONS_DISABLED = "Prediction logging disabled"


def has_interpolation(node: Any) -> bool:
    """Whether a plain config holds a ``${...}`` interpolation anywhere."""
    if isinstance(node, Mapping):
        return any(has_interpolation(value) for value in node.values())
    if isinstance(node, list):
        return any(has_interpolation(value) for value in node)
    return isinstance(node, str) and "${" in node


def takes_keyword(method: Any, name: str) -> bool:
    """Whether ``method`` accepts the keyword argument ``name`` (a custom step may predate it)."""
    parameters = inspect.signature(method).parameters.values()
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


class Monitor:
    """Fan metrics and predictions out to the configured observability steps.

    Bound to a deployment's ``logs/`` directory (``log_dir``), every step
    appends to its own files there; without one, records stay in memory until
    the steps are saved (the guide's ``save_logs``).
    """

    def __init__(
        self,
        config: Any = None,
        log_dir: str | Path | None = None,
        trusted_modules: Iterable[str] = (),
        strict: bool = True,
        validated: bool = False,
    ) -> None:
        """``strict=False`` leaves out, with a warning, steps this process cannot build
        (a custom class of the run that wrote the logs): reading logs should not need it.
        ``validated=True`` says the section was checked by the run that wrote it
        (a deployment's snapshot): its ``steps`` are built as they are, and the
        section is checked against the schema only if :attr:`config` is read."""
        self.section = config
        if not validated:  # an unknown statistic is refused whether or not the drift step is on
            numeric_statistic(self.config.drift.numeric_stat)
        built = instantiate_steps(
            config["steps"] if validated else self.config.steps,
            "observability.steps",
            builtin.STEP_REGISTRY,
            builtin.ObservabilityStep,
            tuple(trusted_modules),
            strict,
        )
        self.steps = [step for _, step in built]
        self.log_dir: Path | None = None
        if log_dir is not None:
            self.load(log_dir)

    @cached_property
    def config(self) -> ObservabilityConfig:
        """The observability section, typed: validated against its schema, defaults filled in."""
        from easy_mlops.config.guide_format import typed_section

        return typed_section(ObservabilityConfig, self.section, "observability")

    def _step(self, kind: type) -> Any:
        return next((step for step in self.steps if isinstance(step, kind)), None)

    def log_metrics(
        self,
        metrics: Mapping[str, float],
        model_version: str = "1.0.0",
        source: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Record a metrics payload; returns the alerts active after it.

        ``source`` says where the metrics come from: ``training`` (the hold-out
        split, at deployment time) or ``live`` (``evaluate`` on labelled data).
        ``details`` are what is not a number to threshold (a live evaluation's
        ``classification``: confusion matrix, per-class scores), kept with the record.
        Steps whose ``on_log_metrics`` takes a ``source`` or ``details`` keyword
        receive it; the guide's two-argument hooks keep working.
        """
        metrics = {name: float(value) for name, value in metrics.items()}
        given = {"source": source, "details": details or None}
        for step in self.steps:
            keywords = {
                name: value
                for name, value in given.items()
                if value is not None and takes_keyword(step.on_log_metrics, name)
            }
            step.on_log_metrics(metrics, model_version, **keywords)
        return self.active_alerts()

    def log_predictions(
        self, predictions: Any, model_version: str = "1.0.0", metadata: dict | None = None, inputs: Any = None
    ) -> None:
        """Record a batch of predictions, one log record per row.

        ``inputs`` (the scored table, or one input per row) reaches the steps'
        per-row hooks; the predictions log keeps only a list's inputs.
        """
        for step in self.steps:
            step.on_log_predictions(predictions, model_version, metadata, inputs)

    def _metrics_summary(self) -> dict[str, Any]:
        step = self._step(builtin.MetricsLoggerStep) or self._reader(builtin.MetricsLoggerStep)
        if step is None:
            return {"enabled": False, "message": "metrics tracking is disabled", "total_logs": 0}
        return step.summary()

    def _predictions_summary(self) -> dict[str, Any]:
        step = self._step(builtin.PredictionsLoggerStep) or self._reader(builtin.PredictionsLoggerStep)
        if step is None:
            return {"message": PREDICTIONS_DISABLED}
        return step.summary()

    def _alerts_summary(self) -> dict[str, Any]:
        step = self._step(builtin.MetricThresholdStep) or self._reader(builtin.MetricThresholdStep)
        if step is None:
            return {"enabled": False, "message": "metric thresholds are not evaluated", "active_alerts": []}
        return step.summary()

    def _drift_summary(self) -> dict[str, Any]:
        step = self._step(builtin.DriftStep)
        if step is None:
            return {
                "enabled": False,
                "message": "drift is not monitored (the drift step is off: observability.drift.enabled)",
            }
        return step.summary()

    def active_alerts(self) -> list[dict[str, Any]]:
        return self._alerts_summary().get("active_alerts", [])

    def _reader(self, kind: type) -> Any:
        """A read-only step for logs written under another config (the step is off now)."""
        if self.log_dir is None:
            return None
        reader = kind()
        filename = getattr(reader, "filename", None) or builtin.ALERTS_LOG
        if not (self.log_dir / filename).exists():
            return None
        reader.load(self.log_dir)
        return reader

    def load(self, log_dir: str | Path) -> None:
        """Bind every step to an existing ``logs/`` directory (recreated if missing)."""
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for step in self.steps:
            step.load(self.log_dir)

    def defer_writes(self, seconds: float) -> None:
        """Let the steps gather many small batches and write at most every ``seconds`` (a server)."""
        for step in self.steps:
            step.flush_every_s = seconds

    def flush(self) -> None:
        """Write what the steps gathered since their last write."""
        for step in self.steps:
            step.flush()

    @property
    def metrics_history(self) -> list[dict[str, Any]]:
        """Every metrics record this monitor logged or loaded."""
        step = self._step(builtin.MetricsLoggerStep) or self._reader(builtin.MetricsLoggerStep)
        return list(step.records()) if step is not None else []

    def summary(self) -> dict[str, Any]:
        """Metrics, predictions and alerts summaries, plus any custom step's."""
        custom = {
            step.name or type(step).__name__: step.summary()
            for step in self.steps
            if not isinstance(
                step,
                (
                    builtin.MetricsLoggerStep,
                    builtin.PredictionsLoggerStep,
                    builtin.MetricThresholdStep,
                    builtin.DriftStep,
                ),
            )
            and step.summary() is not None
        }
        predictions = self._predictions_summary()
        if predictions.get("message") == PREDICTIONS_DISABLED:  # status --json's shape for a disabled step
            predictions = {"enabled": False, "message": PREDICTIONS_DISABLED, "total_predictions": 0}
        summary = {
            "metrics": self._metrics_summary(),
            "predictions": predictions,
            "alerts": self._alerts_summary(),
            "drift": self._drift_summary(),
        }
        if custom:
            summary["custom"] = custom
        return summary

    def generate_html_report(self, about: dict[str, Any] | None = None) -> str:
        """The report as one self-contained HTML page (charts inline); ``about`` names the deployment."""
        from easy_mlops.jsonsafe import now
        from easy_mlops.observability.html_report import render_html

        evaluator = self._step(builtin.MetricThresholdStep)
        drift = self._step(builtin.DriftStep)
        summary = self.summary()
        history = self.metrics_history
        names = {name for record in history for name in record.get("metrics", {})}
        watched = [name for name in names if evaluator is not None and evaluator.watched(name)]
        thresholds = {name: evaluator.threshold(name) for name in watched}
        reference = drift.reference if drift is not None else None
        window = drift.current_window() if reference is not None else {}
        about = {**(about or {}), "generated_at": now()}
        return render_html(about, summary, history, thresholds, reference, window)

    @classmethod
    def from_snapshot(cls, snapshot: Any, log_dir: str | Path, strict: bool = False) -> "Monitor":
        """A monitor configured as a run's config ``snapshot`` says (None: defaults), bound to ``log_dir``.

        A snapshot was validated by the run that wrote it and is vouched for by
        the deployment's checksums: when it holds its step pipeline, the steps
        are built from it as they are (registered ones without OmegaConf, which
        is most of what ``status`` and a logged ``predict`` would pay for it).
        """
        observability = snapshot.get("observability") if snapshot is not None else None
        trusted = tuple(snapshot.get("trusted_modules") or ()) if snapshot is not None else ()
        validated = isinstance(observability, Mapping) and isinstance(observability.get("steps"), Mapping)
        if validated and has_interpolation(observability):
            # A secret's interpolation is kept as text in a snapshot: resolved as the run resolved it.
            from easy_mlops.config.snapshot import resolved_section

            observability, validated = resolved_section(snapshot, "observability"), False
        return cls(observability, log_dir, trusted, strict, validated=validated)
