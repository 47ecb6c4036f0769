"""Drift over time: the live counts of a window of hours, and the alerts a drift report raises.

Plain Python on count vectors: ``status`` and ``list`` read the drift log
through this module without importing numpy, which only the statistics of
:mod:`easy_mlops.observability.drift` need.
"""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from easy_mlops.counts import add_counts


def window_hours(window: str) -> int | None:
    """Hours in ``all`` (None), ``24h`` or ``7d``; anything else is an error naming the key."""
    text = str(window).strip().lower()
    if text == "all":
        return None
    match = re.fullmatch(r"(\d+)\s*([hd])", text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"drift window must be 'all' or a duration like 24h or 7d, got {window!r}")
    return int(match.group(1)) * (24 if match.group(2) == "d" else 1)


def window_counts(hours: dict[str, Any], last_hours: int | None) -> dict[str, Any]:
    """The sum of the hourly counts within the last ``last_hours`` hours (all of them for None)."""
    total: dict[str, Any] = {}
    since = None
    if last_hours is not None:
        since = (datetime.now(UTC) - timedelta(hours=last_hours)).isoformat()[:13]
    for hour, counts in hours.items():
        if since is None or hour >= since:
            total = add_counts(total, counts)
    return total


def drift_alerts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The drifted features, dataset drift and prediction drift of a report, as alert entries."""
    alerts = [
        verdict_alert(name, feature)
        for name, feature in report.get("features", {}).items()
        if feature["drifted"]
    ]
    if report.get("dataset_drift"):
        alerts.append(drift_alert("dataset", "share_drifted", report["share_drifted"], None))
    prediction = report.get("prediction")
    if prediction and prediction["drifted"]:
        alerts.append(verdict_alert("prediction", prediction))
    return alerts


def verdict_alert(name: str, verdict: dict[str, Any]) -> dict[str, Any]:
    """The alert of a drifted column: its score against the threshold applied at the window's rows."""
    return drift_alert(name, verdict["stat"], verdict["score"], verdict["applied_threshold"])


def drift_alert(feature: str, stat: str, value: float, threshold: float | None) -> dict[str, Any]:
    """One alert entry, shaped like a metric's (``metric``, ``value``, ``threshold``, ``direction``)."""
    return {
        "kind": "drift",
        "metric": f"drift:{feature}",
        "feature": feature,
        "stat": stat,
        "value": value,
        "threshold": threshold,
        "direction": "lower",
    }
