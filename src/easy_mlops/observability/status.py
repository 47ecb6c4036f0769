"""What ``status`` and ``list`` report about a deployment."""

from pathlib import Path
from typing import Any

from easy_mlops.deployment.loading import read_metadata, verify_files
from easy_mlops.observability.monitor import deployment_monitor

HEADLINE_METRICS = ("accuracy", "r2_score")

DEPLOYMENT_KEYS = ("name", "status", "version", "deployment_time", "problem_type", "target_column")


def deployment_status(deployment_dir: str | Path, verify: bool = True) -> dict[str, Any]:
    """Deployment metadata, metrics, predictions and alerts summaries (the guide's keys)."""
    directory = Path(deployment_dir)
    metadata = read_metadata(directory)
    if verify:
        verify_files(directory, metadata)
    summary = deployment_monitor(directory).summary()
    deployment = {key: metadata.get(key) for key in DEPLOYMENT_KEYS}
    deployment["directory"] = str(directory.resolve())
    deployment["training_metrics"] = metadata.get("metrics", {})
    deployment["integrity"] = "verified" if verify else "not checked"
    deployment["remote"] = metadata.get("remote")
    return {"deployment": deployment, **summary}


def headline_metric(metrics: dict[str, float]) -> tuple[str, float] | None:
    for name in HEADLINE_METRICS:
        if name in metrics:
            return name, metrics[name]
    return next(iter(metrics.items()), None)


def deployment_row(deployment_dir: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    """One row of ``list``: cheap to compute (no checksums, no full log scan)."""
    monitor = deployment_monitor(deployment_dir)
    alerts = monitor.active_alerts()
    predictions = monitor.get_predictions_summary()
    headline = headline_metric(metadata.get("metrics", {}))
    return {
        "name": deployment_dir.name,
        "directory": str(deployment_dir.resolve()),
        "deployment_time": metadata.get("deployment_time"),
        "version": metadata.get("version"),
        "problem_type": metadata.get("problem_type"),
        "status": metadata.get("status"),
        "headline_metric": {"name": headline[0], "value": headline[1]} if headline else None,
        "active_alerts": len(alerts),
        "total_predictions": predictions.get("total_predictions", 0),
    }


def remote_row(metadata: dict[str, Any]) -> dict[str, Any]:
    """A ``list`` row for a deployment in object storage, from its metadata alone."""
    headline = headline_metric(metadata.get("metrics", {}))
    return {
        "name": metadata.get("name"),
        "directory": metadata.get("directory"),
        "deployment_time": metadata.get("deployment_time"),
        "version": metadata.get("version"),
        "problem_type": metadata.get("problem_type"),
        "status": metadata.get("status"),
        "headline_metric": {"name": headline[0], "value": headline[1]} if headline else None,
        "active_alerts": None,
        "total_predictions": None,
    }
