"""ModelMonitor: the observability pipeline of one deployment."""

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from easy_mlops.config.config import ObservabilityConfig, default_observability_steps
from easy_mlops.config.guide_format import section_config
from easy_mlops.config.instantiate import instantiate_steps
from easy_mlops.config.registry import StepRegistry
from easy_mlops.errors import ConfigError
from easy_mlops.observability import steps as builtin


class ModelMonitor:
    """Fan metrics and predictions out to the configured observability steps.

    Bound to a deployment's ``logs/`` directory (``log_dir``), every step
    appends to its own files there; without one, records stay in memory until
    :meth:`save_logs`.
    """

    STEP_REGISTRY = StepRegistry("observability", builtin.ObservabilityStep, default_observability_steps)

    def __init__(
        self, config: Any = None, log_dir: str | Path | None = None, trusted_modules: Iterable[str] = ()
    ) -> None:
        self.config = section_config(ObservabilityConfig, config, "observability")
        built = instantiate_steps(
            self.config.steps,
            "observability.steps",
            tuple(trusted_modules),
            self.STEP_REGISTRY,
        )
        for key, step in built:
            if not isinstance(step, builtin.ObservabilityStep):
                raise ConfigError(
                    f"config key 'observability.steps.{key}': "
                    f"{type(step).__name__} is not an ObservabilityStep"
                )
        self.steps = [step for _, step in built]
        self.log_dir: Path | None = None
        if log_dir is not None:
            self.load(log_dir)

    @classmethod
    def register_step(cls, step_cls: type) -> type:
        """Make an :class:`ObservabilityStep` subclass nameable in ``observability.steps``."""
        return cls.STEP_REGISTRY.register(step_cls)

    def _step(self, kind: type) -> Any:
        return next((step for step in self.steps if isinstance(step, kind)), None)

    def log_metrics(self, metrics: Mapping[str, float], model_version: str = "1.0.0") -> list[dict[str, Any]]:
        """Record a metrics payload; returns the alerts it raised."""
        metrics = {name: float(value) for name, value in metrics.items()}
        for step in self.steps:
            step.on_log_metrics(metrics, model_version)
        return self.active_alerts()

    def log_prediction(
        self, prediction: Any, model_version: str = "1.0.0", metadata: dict | None = None
    ) -> None:
        """Record one prediction (the guide's single-row form)."""
        self.log_predictions([prediction], model_version, metadata)

    def log_predictions(
        self, predictions: Any, model_version: str = "1.0.0", metadata: dict | None = None
    ) -> None:
        """Record a batch of predictions, one log record per row."""
        for step in self.steps:
            step.on_log_predictions(predictions, model_version, metadata)

    def check_metric_threshold(self, metric_name: str, value: float) -> bool:
        """Whether ``value`` should raise an alert.

        Uses the ``metric_threshold`` step when configured; otherwise the flat
        keys (``alert_threshold``, ``metric_thresholds``, ``metric_directions``).
        """
        evaluator = self._step(builtin.MetricThresholdStep) or builtin.MetricThresholdStep(
            self.config.alert_threshold,
            OmegaConf.to_container(self.config.metric_thresholds),
            OmegaConf.to_container(self.config.metric_directions),
        )
        return evaluator.check_metric_threshold(metric_name, value)

    def get_metrics_summary(self) -> dict[str, Any]:
        step = self._step(builtin.MetricsLoggerStep) or self._reader(builtin.MetricsLoggerStep)
        if step is None:
            return {"enabled": False, "message": "metrics tracking is disabled", "total_logs": 0}
        return step.summary()

    def get_predictions_summary(self) -> dict[str, Any]:
        step = self._step(builtin.PredictionsLoggerStep) or self._reader(builtin.PredictionsLoggerStep)
        if step is None:
            return {"enabled": False, "message": "prediction logging is disabled", "total_predictions": 0}
        return step.summary()

    def get_alerts_summary(self) -> dict[str, Any]:
        step = self._step(builtin.MetricThresholdStep) or self._reader(builtin.MetricThresholdStep)
        if step is None:
            return {"enabled": False, "message": "metric thresholds are not evaluated", "active_alerts": []}
        return step.summary()

    def active_alerts(self) -> list[dict[str, Any]]:
        return self.get_alerts_summary().get("active_alerts", [])

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

    def save_logs(self, log_dir: str | Path | None = None) -> Path:
        """Persist everything held in memory to ``log_dir`` and keep writing there."""
        target = Path(log_dir) if log_dir is not None else self.log_dir
        if target is None:
            raise ConfigError("save_logs needs a log directory (none was given or loaded)")
        target.mkdir(parents=True, exist_ok=True)
        for step in self.steps:
            step.save(target)
        self.log_dir = target
        return target

    def load(self, log_dir: str | Path) -> None:
        """Bind every step to an existing ``logs/`` directory (recreated if missing)."""
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for step in self.steps:
            step.load(self.log_dir)

    def summary(self) -> dict[str, Any]:
        """Metrics, predictions and alerts summaries, plus any custom step's."""
        custom = {
            step.name or type(step).__name__: step.summary()
            for step in self.steps
            if not isinstance(
                step, (builtin.MetricsLoggerStep, builtin.PredictionsLoggerStep, builtin.MetricThresholdStep)
            )
            and step.summary() is not None
        }
        summary = {
            "metrics": self.get_metrics_summary(),
            "predictions": self.get_predictions_summary(),
            "alerts": self.get_alerts_summary(),
        }
        if custom:
            summary["custom"] = custom
        return summary

    def generate_report(self) -> str:
        """A plain-text report of metrics, predictions and alerts."""
        from easy_mlops.observability.report import render_report

        return render_report(self.summary())


for _step in (builtin.MetricsLoggerStep, builtin.PredictionsLoggerStep, builtin.MetricThresholdStep):
    ModelMonitor.register_step(_step)


def deployment_monitor(deployment_dir: str | Path) -> ModelMonitor:
    """A monitor for a deployment, configured as it was deployed (its ``config.yaml``)."""
    directory = Path(deployment_dir)
    snapshot = directory / "config.yaml"
    observability, trusted = None, ()
    if snapshot.is_file():
        try:
            saved = OmegaConf.load(snapshot)
        except Exception as exc:  # YAML errors come in several types
            raise ConfigError(f"{snapshot}: cannot read the config snapshot ({exc})") from exc
        observability = saved.get("observability")
        trusted = tuple(saved.get("trusted_modules") or ())
    return ModelMonitor(observability, log_dir=directory / "logs", trusted_modules=trusted)
