"""Recording what happens after a model goes live: metrics, predictions, alerts."""

from easy_mlops.observability.monitor import ModelMonitor
from easy_mlops.observability.steps import (
    MetricsLoggerStep,
    MetricThresholdStep,
    ObservabilityStep,
    PredictionsLoggerStep,
)

__all__ = [
    "MetricThresholdStep",
    "MetricsLoggerStep",
    "ModelMonitor",
    "ObservabilityStep",
    "PredictionsLoggerStep",
]
