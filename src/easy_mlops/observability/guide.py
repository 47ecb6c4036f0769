"""The guide's ``ModelMonitor``: the core :class:`~easy_mlops.observability.monitor.Monitor` under the
names scripts written for the original package call.

The core records batches (``log_predictions``), binds to a directory
(``load``) and summarises everything at once (``summary``); the guide's
single-row ``log_prediction``, ``save_logs`` / ``load_logs``, per-section
summaries, threshold check, text report and class-level step registry are
here, each a thin call into the core or its steps.
"""

from pathlib import Path
from typing import Any

from easy_mlops.config.registry import register, step_registry_attribute
from easy_mlops.errors import ConfigError
from easy_mlops.observability import steps as builtin
from easy_mlops.observability.monitor import Monitor


class ModelMonitor(Monitor, metaclass=step_registry_attribute(builtin.STEP_REGISTRY)):
    """A :class:`Monitor` with the guide's API (``log_prediction``, ``save_logs``, ``generate_report``...).

    ``ModelMonitor.STEP_REGISTRY`` is the registry beside the steps (name -> class);
    a mapping assigned to it becomes the registry's content.
    """

    STEP_REGISTRY = builtin.STEP_REGISTRY  # read through an instance too, as a class attribute is

    @classmethod
    def register_step(cls, step_cls: type) -> type:
        """Make an :class:`ObservabilityStep` subclass nameable in ``observability.steps``."""
        return register(cls.STEP_REGISTRY, builtin.ObservabilityStep, step_cls)

    def log_prediction(
        self, input_data: Any, prediction: Any, model_version: str = "1.0.0", metadata: dict | None = None
    ) -> None:
        """Record one prediction and the input it was made for (the guide's single-row form)."""
        self.log_predictions([prediction], model_version, metadata, inputs=[input_data])

    def check_metric_threshold(self, metric_name: str, value: float) -> bool:
        """Whether ``value`` should raise an alert.

        Uses the ``metric_threshold`` step when configured; otherwise the flat
        keys (``alert_threshold``, ``metric_thresholds``, ``metric_directions``).
        """
        evaluator = self._step(builtin.MetricThresholdStep) or builtin.MetricThresholdStep(
            self.config.alert_threshold, self.config.metric_thresholds, self.config.metric_directions
        )
        return evaluator.check_metric_threshold(metric_name, value)

    def get_metrics_summary(self) -> dict[str, Any]:
        return self._metrics_summary()

    def get_predictions_summary(self) -> dict[str, Any]:
        """The predictions log's summary; ``{"message": "Prediction logging disabled"}`` without one."""
        return self._predictions_summary()

    def get_alerts_summary(self) -> dict[str, Any]:
        return self._alerts_summary()

    def get_drift_summary(self) -> dict[str, Any]:
        return self._drift_summary()

    def save_logs(self, output_dir: str | Path | None = None) -> dict[str, str]:
        """Persist everything held in memory to ``output_dir`` and keep writing there.

        Returns the guide's ``{"metrics": path, "predictions": path}`` (the log files).
        """
        target = Path(output_dir) if output_dir is not None else self.log_dir
        if target is None:
            raise ConfigError("save_logs needs a log directory (none was given or loaded)")
        target.mkdir(parents=True, exist_ok=True)
        for step in self.steps:
            step.save(target)
        self.log_dir = target
        return {
            "metrics": str(target / builtin.METRICS_LOG),
            "predictions": str(target / builtin.PREDICTIONS_LOG),
        }

    def load_logs(self, log_dir: str | Path) -> None:
        """Bind every step to an existing ``logs/`` directory: the core's :meth:`load`."""
        self.load(log_dir)

    def get_step(self, name: str) -> Any:
        """The configured step called ``name``, or None."""
        return next((step for step in self.steps if step.name == name), None)

    @property
    def predictions_log(self) -> list[dict[str, Any]]:
        """Every prediction record this monitor logged or loaded (read whole: for small logs)."""
        step = self._step(builtin.PredictionsLoggerStep) or self._reader(builtin.PredictionsLoggerStep)
        return list(step.records()) if step is not None else []

    def generate_report(self) -> str:
        """A plain-text report of metrics, predictions and alerts: what ``observe`` prints."""
        from easy_mlops.observability.report import render_report

        return render_report(self.summary())
