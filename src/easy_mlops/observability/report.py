"""How monitoring is shown: the plain-text report, ``status``'s tables and ``list``'s table.

``observe`` and ``ModelMonitor.generate_report()`` print :func:`render_report`;
the CLI prints :func:`status_view` and :func:`deployments_table`. One place
says how an alert reads.
"""

from typing import Any


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def alert_line(alert: dict[str, Any]) -> Any:
    """An alert as a terminal shows it: ``ALERT`` in bold red, then :func:`alert_text`."""
    from rich.text import Text

    return Text.assemble(("ALERT", "bold red"), f" {alert_text(alert)}")


def alert_text(alert: dict[str, Any]) -> str:
    """``accuracy = 0.7 < threshold 0.8``: the metric, its value and the threshold it misses;
    ``drift in x1: psi 0.31 >= threshold 0.25`` for drift."""
    if alert.get("kind") == "drift":
        if alert["feature"] == "dataset":
            return f"dataset drift: {alert['value']:.0%} of the features drifted"
        value, threshold = _number(alert["value"]), _number(alert["threshold"])
        return f"drift in {alert['feature']}: {alert['stat']} {value} >= threshold {threshold}"
    comparison = "<" if alert["direction"] == "higher" else ">"
    return (
        f"{alert['metric']} = {_number(alert['value'])} {comparison} threshold {_number(alert['threshold'])}"
    )


def render_report(summary: dict[str, Any], about: str | None = None) -> str:
    """The guide's report: MODEL MONITORING REPORT, METRICS SUMMARY, PREDICTIONS SUMMARY, ALERTS."""
    title = "MODEL MONITORING REPORT"
    lines = [title, *([about] if about else []), "=" * len(title), ""]
    metrics = summary["metrics"]
    lines.append("METRICS SUMMARY")
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
            lines.append(f"  trend {name}: {trend_text(trend)}")
        lines += live_metrics_lines(metrics)
    lines += ["", "PREDICTIONS SUMMARY"]
    predictions = summary["predictions"]
    if predictions.get("enabled") is False:
        lines.append(f"  {predictions['message']}")
    else:
        lines += [
            f"  total predictions: {predictions['total_predictions']}",
            f"  first prediction:  {predictions['first_prediction'] or '-'}",
            f"  last prediction:   {predictions['last_prediction'] or '-'}",
        ]
        distribution = distribution_text(predictions.get("distribution") or {})
        if distribution:
            lines.append(f"  {distribution}")
        for record in predictions.get("recent_predictions", []):
            lines.append(f"  recent: {record.get('timestamp')}  {record.get('prediction')!r}")
    lines += ["", "DRIFT", *drift_lines(summary.get("drift") or {}), "", "ALERTS"]
    alerts = summary["alerts"]
    if alerts.get("enabled") is False:
        lines.append(f"  {alerts['message']}")
    elif not alerts.get("active_alerts"):
        lines.append("  no active alerts")
    else:
        lines += [f"  ALERT {alert_text(alert)}" for alert in alerts["active_alerts"]]
    return "\n".join(lines) + "\n"


def trend_text(trend: dict[str, Any]) -> str:
    return (
        f"mean {_number(trend['mean'])}, std {_number(trend['std'])}, "
        f"min {_number(trend['min'])}, max {_number(trend['max'])}"
    )


def live_metrics_lines(metrics: dict[str, Any]) -> list[str]:
    """Training-day metrics beside the latest live ones, and the trend over the live evaluations."""
    live = metrics.get("live") or {}
    if not live.get("evaluations"):
        return [f"  live metrics: none yet ({EVALUATE_HINT})"]
    lines = [
        f"  training vs live ({live['evaluations']} live evaluation(s), last {live['last_evaluation']}):"
    ]
    for name, training, latest, change in side_by_side(metrics):
        lines.append(f"    {name:<12} training {training:>8}  live {latest:>8}  change {change:>8}")
    for name, trend in (live.get("trends") or {}).items():
        lines.append(f"    live trend {name}: {trend_text(trend)}")
    return lines


EVALUATE_HINT = "measure them on labelled data: make-mlops-easy evaluate LABELLED_DATA MODEL_DIR"


def side_by_side(metrics: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """``(metric, training, live, change)`` as text, for every metric of either."""
    training = metrics.get("training_metrics") or {}
    live = (metrics.get("live") or {}).get("latest_metrics") or {}
    rows = []
    for name in [*training, *(name for name in live if name not in training)]:
        before, after = training.get(name), live.get(name)
        change = f"{after - before:+.4f}" if before is not None and after is not None else "-"
        rows.append((name, _fixed(before), _fixed(after), change))
    return rows


def _fixed(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def evaluation_view(result: dict[str, Any]) -> list[Any]:
    """What ``evaluate`` prints: the live metrics and the alerts they raised."""
    from rich.table import Table

    table = Table(title=f"Live metrics on {result['data']}", title_justify="left")
    for column in ("metric", "value"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for name, value in result["metrics"].items():
        table.add_row(name, _fixed(value))
    rows = f"{result['rows']} labelled rows, label column '{result['target']}'"
    if result["unlabelled_rows"]:
        rows += f" ({result['unlabelled_rows']} without a label left out)"
    view: list[Any] = [table, rows]
    classification = result.get("classification")
    if classification:
        view += classification_view(classification)
    view += [alert_line(alert) for alert in result["alerts"]] or ["alerts: none active"]
    return view


def classification_view(classification: dict[str, Any]) -> list[Any]:
    """A live evaluation's confusion matrix and per-class scores as tables, and what was not measured."""
    from rich.table import Table
    from rich.text import Text

    labels = [str(label) for label in classification["labels"]]
    matrix = Table(title="Confusion matrix (rows: true label, columns: predicted)", title_justify="left")
    matrix.add_column("true \\ predicted")
    for label in labels:
        matrix.add_column(Text(label), justify="right")  # Text: a label is never read as markup
    for label, counts in zip(labels, classification["confusion_matrix"], strict=True):
        matrix.add_row(Text(label), *map(str, counts))
    per_class = Table(title="Per class", title_justify="left")
    for column in ("class", "precision", "recall", "f1_score", "support"):
        per_class.add_column(column, justify="left" if column == "class" else "right")
    for row in classification["per_class"]:
        scores = (_fixed(row[key]) for key in ("precision", "recall", "f1_score"))
        per_class.add_row(Text(str(row["label"])), *scores, str(row["support"]))
    view: list[Any] = [matrix, per_class]
    if classification.get("positive_class") is not None:
        view.append(Text(f"roc_auc is of the positive class '{classification['positive_class']}'"))
    view += [Text(f"{name} not measured: {why}") for name, why in classification["not_computed"].items()]
    return view


def drift_lines(drift: dict[str, Any]) -> list[str]:
    """The drift verdict: the window, then the drifted features first, then the rest."""
    if drift.get("enabled") is False or "message" in drift:
        return [f"  {drift.get('message', '-')}"]
    lines = [
        f"  window: {drift['window']}, {drift['rows']} rows; "
        f"{drift['share_drifted']:.0%} of features drifted"
        + ("; DATASET DRIFT" if drift["dataset_drift"] else "")
    ]
    # Sorted by score: the drifted ones first.
    lines += [_drift_line(name, feature) for name, feature in drift["features"].items()]
    if drift.get("prediction"):
        lines.append(_drift_line("(predictions)", drift["prediction"]))
    return lines


def _drift_line(name: str, verdict: dict[str, Any]) -> str:
    """``x1  psi  0.31 >= 0.25  DRIFTED``: the score against the threshold applied at this window's rows."""
    word = "DRIFTED" if verdict["drifted"] else ("warning" if verdict.get("warning") else "ok")
    sign = ">=" if verdict["drifted"] else "<"
    applied = _number(verdict["applied_threshold"])
    return f"  {name:<20} {verdict['stat']:<13} {_number(verdict['score']):>8} {sign} {applied:<8}  {word}"


def distribution_text(distribution: dict[str, Any]) -> str | None:
    """One line for the predicted classes, or the predicted values' statistics."""
    if distribution.get("kind") == "classes":
        return "predicted classes: " + ", ".join(f"{k}: {v}" for k, v in distribution["counts"].items())
    if distribution.get("kind") == "numeric":
        quantiles = ", ".join(f"{q} {_number(v)}" for q, v in distribution["quantiles"].items())
        return (
            f"predicted values: mean {_number(distribution['mean'])}, std {_number(distribution['std'])}, "
            f"min {_number(distribution['min'])}, max {_number(distribution['max'])}; {quantiles}"
        )
    return None


def status_view(status: dict[str, Any]) -> list[Any]:
    """What ``status`` prints for a person: rich tables and lines, from ``status --json``'s object."""
    from rich.table import Table

    view: list[Any] = []
    deployment = status["deployment"]
    table = Table(title=f"Deployment {deployment['name']}", title_justify="left", show_header=False)
    for key in (
        "directory",
        "status",
        "version",
        "deployment_time",
        "problem_type",
        "target_column",
        "integrity",
    ):
        table.add_row(key, str(deployment.get(key)))
    remote = deployment.get("remote")
    if remote:
        error = f": {remote['error']}" if remote.get("error") else ""
        table.add_row("remote", f"{remote.get('uri')} ({remote.get('status')}{error})")
    tracking = deployment.get("tracking")
    if tracking:
        run = (
            f"MLflow run {tracking['run_id']} at {tracking.get('uri')}"
            if tracking.get("run_id")
            else tracking.get("uri")
        )
        error = f": {tracking['error']}" if tracking.get("error") else ""
        table.add_row("tracking", f"{run} ({tracking.get('status')}{error})")
    view.append(table)

    metrics = status["metrics"]
    live = metrics.get("live") or {}
    evaluations = live.get("evaluations", 0)
    table = Table(
        title=f"Metrics: training vs live (trend over {evaluations} live evaluation(s))", title_justify="left"
    )
    for column in ("metric", "training", "live", "change", "live mean", "std", "min", "max"):
        table.add_column(column, justify="right" if column != "metric" else "left")
    trends = live.get("trends") or {}
    for name, training, latest, change in side_by_side(metrics):
        trend = trends.get(name)
        cells = [f"{trend[k]:.4f}" for k in ("mean", "std", "min", "max")] if trend else ["-"] * 4
        table.add_row(name, training, latest, change, *cells)
    view.append(table)
    view.append(
        f"metric logs: {metrics.get('total_logs', 0)} (first {metrics.get('first_log') or '-'}, "
        f"last {metrics.get('last_log') or '-'})"
        + ("" if evaluations else f"; no live metrics yet: {EVALUATE_HINT}")
    )

    predictions = status["predictions"]
    if predictions.get("enabled") is False:
        view.append(predictions["message"])
    else:
        view.append(
            f"predictions logged: {predictions['total_predictions']} "
            f"(first {predictions['first_prediction'] or '-'}, last {predictions['last_prediction'] or '-'})"
        )
        distribution = distribution_text(predictions.get("distribution") or {})
        if distribution:
            view.append(distribution)
    view += ["drift:", *drift_lines(status.get("drift") or {})]
    alerts = status["alerts"].get("active_alerts", [])
    view += [alert_line(alert) for alert in alerts] or ["alerts: none active"]
    return view


def deployments_table(rows: list[dict[str, Any]], title: str) -> Any:
    """``list``'s table: one row per deployment, as ``list --json`` describes it."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in ("name", "time", "version", "problem", "metric", "status", "alerts", "predictions"):
        table.add_column(column)
    for row in rows:
        headline = row["headline_metric"]
        table.add_row(
            row["name"],
            str(row["deployment_time"])[:19].replace("T", " "),
            str(row["version"]),
            str(row["problem_type"]),
            f"{headline['name']} {headline['value']:.4f}" if headline else "-",
            str(row["status"]),
            "-" if row["active_alerts"] is None else str(row["active_alerts"] or "ok"),
            str(row["total_predictions"]) if row["total_predictions"] is not None else "-",
        )
    return table
