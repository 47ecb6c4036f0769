"""Live metrics: score labelled data that arrived after the deployment, as training scored its hold-out.

Training-day metrics never change; once labels for live traffic come in,
``make-mlops-easy evaluate`` (and ``MLOpsPipeline.evaluate``) measures the
same metrics on them, logs them to ``metrics_history.jsonl`` with
``source: live`` and checks them against the deployment's thresholds, so an
alert can say that the model got worse, not only that the inputs moved.
"""

from pathlib import Path
from typing import Any

import pandas as pd

from easy_mlops.data.loaders import check_data_file, load_table
from easy_mlops.deployment.loading import Deployment
from easy_mlops.errors import DataError
from easy_mlops.monitoring import deployment_monitor
from easy_mlops.tracking import log_live_metrics
from easy_mlops.training.trainer import evaluate

LIVE = "live"  # the source of metrics measured on labelled live data


def evaluate_file(
    data_path: str | Path, reference: str | Path, target: str | None = None, verify: bool = True
) -> dict[str, Any]:
    """Metrics of a deployment on a labelled file, logged to its ``logs/`` with the alerts they raise.

    ``target`` defaults to the deployment's target column. Rows without a
    label are left out (and counted); predictions made here are not logged as
    delivered predictions. Returns ``{"metrics", "alerts", "rows",
    "unlabelled_rows", "target", "data"}``.
    """
    check_data_file(data_path)
    deployment = Deployment.load(reference, verify)
    target = target or deployment.metadata.get("target_column")
    frame = load_table(data_path, encoding=deployment.data_encoding)
    if target not in frame.columns:
        raise DataError(
            f"{data_path}: no label column '{target}' (columns: {', '.join(map(str, frame.columns))}); "
            "name it with --target"
        )
    labelled = frame[frame[target].notna()]
    if labelled.empty:
        raise DataError(f"{data_path}: column '{target}' has no labels to evaluate against")
    problem_type = str(deployment.metadata.get("problem_type"))
    truth = labels(labelled[target], problem_type, deployment.model, f"{data_path}: column '{target}'")
    predicted = deployment.predict(labelled.drop(columns=[target]), source=str(data_path))
    metrics = evaluate(problem_type, truth, predicted)
    alerts = deployment_monitor(deployment.directory).log_metrics(metrics, deployment.version, source=LIVE)
    log_live_metrics(deployment.directory, metrics)  # to the deployment's MLflow run, when it has one
    return {
        "data": str(data_path),
        "target": target,
        "rows": len(labelled),
        "unlabelled_rows": len(frame) - len(labelled),
        "metrics": metrics,
        "alerts": alerts,
    }


def labels(values: pd.Series, problem_type: str, model: Any, where: str) -> pd.Series:
    """The labels as the model's predictions are typed; an error when they cannot be what it predicts."""
    if problem_type == "regression":
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.isna().any():
            bad = values[numbers.isna()].iloc[0]
            raise DataError(f"{where}: {bad!r} is not a number, and this deployment predicts numbers")
        return numbers
    classes = getattr(model, "classes_", None)
    if classes is None:
        return values
    known = {str(value): value for value in classes}
    as_classes = values.map(lambda value: known.get(str(value), value))
    if not as_classes.isin(list(classes)).any():
        shown = ", ".join(map(str, list(classes)[:10]))
        raise DataError(f"{where}: none of its labels is a class this deployment predicts ({shown})")
    return as_classes
