"""The plain-text monitoring report shared by ``observe`` and ``generate_report()``."""

from typing import Any


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def render_report(summary: dict[str, Any], title: str = "Model monitoring report") -> str:
    lines = [title, "=" * len(title), ""]
    metrics = summary["metrics"]
    lines.append("Metrics")
    if metrics.get("enabled") is False:
        lines.append(f"  {metrics['message']}")
    else:
        lines += [
            f"  total logs:  {metrics['total_logs']}",
            f"  first log:   {metrics['first_log'] or '-'}",
            f"  last log:    {metrics['last_log'] or '-'}",
        ]
        for name, value in metrics.get("latest_metrics", {}).items():
            lines.append(f"  {name:<12} {_number(value)}")
        for name, trend in metrics.get("trends", {}).items():
            lines.append(
                f"  trend {name}: mean {_number(trend['mean'])}, std {_number(trend['std'])}, "
                f"min {_number(trend['min'])}, max {_number(trend['max'])}"
            )
    lines += ["", "Predictions"]
    predictions = summary["predictions"]
    if predictions.get("enabled") is False:
        lines.append(f"  {predictions['message']}")
    else:
        lines += [
            f"  total predictions: {predictions['total_predictions']}",
            f"  first prediction:  {predictions['first_prediction'] or '-'}",
            f"  last prediction:   {predictions['last_prediction'] or '-'}",
        ]
        distribution = predictions.get("distribution") or {}
        if distribution.get("kind") == "classes":
            counts = ", ".join(f"{label}: {count}" for label, count in distribution["counts"].items())
            lines.append(f"  predicted classes: {counts}")
        elif distribution.get("kind") == "numeric":
            quantiles = ", ".join(f"{q} {_number(v)}" for q, v in distribution["quantiles"].items())
            lines.append(
                f"  predicted values: mean {_number(distribution['mean'])}, "
                f"std {_number(distribution['std'])}, min {_number(distribution['min'])}, "
                f"max {_number(distribution['max'])}; {quantiles}"
            )
        for record in predictions.get("recent_predictions", []):
            lines.append(f"  recent: {record.get('timestamp')}  {record.get('prediction')!r}")
    lines += ["", "Alerts"]
    alerts = summary["alerts"]
    if alerts.get("enabled") is False:
        lines.append(f"  {alerts['message']}")
    elif not alerts.get("active_alerts"):
        lines.append("  no active alerts")
    else:
        for alert in alerts["active_alerts"]:
            comparison = "<" if alert["direction"] == "higher" else ">"
            lines.append(
                f"  ALERT {alert['metric']} = {_number(alert['value'])} {comparison} "
                f"threshold {_number(alert['threshold'])}"
            )
    return "\n".join(lines) + "\n"
