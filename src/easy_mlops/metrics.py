"""Metric names: which way is better, which scores are at best 1, and the headline metric.

The one place these facts live: thresholds, the sweep leaderboard, ``list``,
``prune`` and the value a sweeper optimises all read them from here.
"""

from collections.abc import Mapping

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
# Scores whose best value is 1 (accuracy, F1, ROC AUC lie in [0, 1]; R² can fall below 0):
# compared with the global alert_threshold when no per-metric threshold is set.
# Scale-dependent errors (rmse...) need their own.
SCORES_UP_TO_ONE = HIGHER_IS_BETTER
# The hold-out metrics of each problem type, in the order they are reported.
METRIC_NAMES = {
    "classification": ("accuracy", "f1_score", "precision", "recall"),
    "regression": ("mse", "rmse", "mae", "r2_score"),
}
# What a run is judged by when nothing else is said (optimized_metric: null).
DEFAULT_OPTIMIZED = {"classification": "accuracy", "regression": "r2_score"}


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


def headline_metric(metrics: Mapping[str, float], configured: str | None = None) -> str | None:
    """The metric a run is judged by: ``configured`` when given, else accuracy, else R², else the first."""
    if configured:
        return configured
    for name in DEFAULT_OPTIMIZED.values():
        if name in metrics:
            return name
    return next(iter(metrics), None)


def optimized_metric(configured: str | None, problem_type: str) -> str:
    """The metric a run of ``problem_type`` is judged by; a name it does not compute is an error."""
    from easy_mlops.errors import ConfigError

    name = configured or DEFAULT_OPTIMIZED[problem_type]
    if name not in METRIC_NAMES[problem_type]:
        raise ConfigError(
            f"config key 'optimized_metric': '{name}' is not a {problem_type} metric; "
            f"use one of {', '.join(METRIC_NAMES[problem_type])}"
        )
    return name
