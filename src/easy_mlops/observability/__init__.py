"""Recording what happens after a model goes live: metrics, predictions, alerts.

The names below are imported on first use, so that reading the logs (``list``)
does not load the monitor and the OmegaConf schema it is configured with.
"""

from easy_mlops.lazy import lazy_attributes

_EXPORTS = {
    "Monitor": "easy_mlops.observability.monitor",
    "ModelMonitor": "easy_mlops.observability.guide",  # the guide's name, over Monitor
    **{
        name: "easy_mlops.observability.steps"
        for name in ("MetricsLoggerStep", "MetricThresholdStep", "ObservabilityStep", "PredictionsLoggerStep")
    },
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_attributes(__name__, _EXPORTS)
