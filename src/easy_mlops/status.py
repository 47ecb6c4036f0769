"""What ``status`` and ``list`` report about a deployment (``status --json`` is built here).

Status reads the metadata, checks the checksums and summarises the logs; it
never unpickles the model.
"""

from pathlib import Path
from typing import Any

from easy_mlops.deployment.catalog import resolve_deployment
from easy_mlops.deployment.metadata import read_metadata, verify_files
from easy_mlops.metrics import headline_metric
from easy_mlops.monitoring import logged_counts, reading_monitor

DEPLOYMENT_KEYS = ("name", "status", "version", "deployment_time", "problem_type", "target_column")


def deployment_status(reference: str | Path, verify: bool = True) -> dict[str, Any]:
    """Deployment metadata, metrics, predictions and alerts summaries (the guide's keys)."""
    directory = resolve_deployment(reference)
    metadata = read_metadata(directory)
    if verify:
        verify_files(directory, metadata)
    with reading_monitor(directory) as monitor:
        summary = monitor.summary()
    deployment = {key: metadata.get(key) for key in DEPLOYMENT_KEYS}
    deployment["directory"] = str(directory.resolve())
    deployment["training_metrics"] = metadata.get("metrics", {})
    deployment["integrity"] = "verified" if verify else "not checked"
    deployment["remote"] = metadata.get("remote")
    deployment["tracking"] = metadata.get("tracking")  # the MLflow run, when tracking was on
    return {"deployment": deployment, **summary}


def deployment_report(reference: str | Path) -> str:
    """The monitoring report of a deployment, as ``observe`` prints it."""
    from easy_mlops.observability.report import render_report

    directory = resolve_deployment(reference)
    metadata = read_metadata(directory)
    about = f"deployment {directory.name}, version {metadata.get('version')}"
    with reading_monitor(directory) as monitor:
        return render_report(monitor.summary(), about)


def deployment_html_report(reference: str | Path) -> str:
    """The monitoring report of a deployment as a self-contained HTML page (``observe --html``)."""
    directory = resolve_deployment(reference)
    metadata = read_metadata(directory)
    about = {key: metadata.get(key) for key in ("version", "deployment_time")}
    with reading_monitor(directory) as monitor:
        return monitor.generate_html_report({**about, "name": directory.name})


def deployment_row(deployment_dir: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    """One row of ``list`` for a local deployment."""
    return _list_row(deployment_dir.name, str(deployment_dir.resolve()), metadata, deployment_dir)


def remote_row(metadata: dict[str, Any], local_copy: Path | None) -> dict[str, Any]:
    """One row of ``list`` for a deployment in object storage.

    Alerts and predictions come from this machine's cached copy, where
    ``predict URI`` logs them and ``status URI`` reads them; without a copy
    they are unknown here (None).
    """
    row = _list_row(metadata.get("name"), metadata.get("directory"), metadata, local_copy)
    row["local_copy"] = str(local_copy) if local_copy is not None else None
    return row


def _list_row(name: Any, directory: Any, metadata: dict[str, Any], logs_of: Path | None) -> dict[str, Any]:
    """Alerts and predictions from the logs of ``logs_of`` (None without it).

    Cheap: no checksums, no full log scan.
    """
    active_alerts = total_predictions = None
    if logs_of is not None:
        active_alerts, total_predictions = logged_counts(logs_of)
    metrics = metadata.get("metrics", {})
    headline = headline_metric(metrics, metadata.get("training", {}).get("optimized_metric"))
    return {
        "name": name,
        "directory": directory,
        "deployment_time": metadata.get("deployment_time"),
        "version": metadata.get("version"),
        "problem_type": metadata.get("problem_type"),
        "status": metadata.get("status"),
        "headline_metric": {"name": headline, "value": metrics.get(headline)} if headline else None,
        "active_alerts": active_alerts,
        "total_predictions": total_predictions,
    }
