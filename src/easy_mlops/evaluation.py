"""Live metrics: score labelled data that arrived after the deployment, as training scored its hold-out.

Training-day metrics never change; once labels for live traffic come in,
``make-mlops-easy evaluate`` (and ``MLOpsPipeline.evaluate``) measures the
same metrics on them, logs them to ``metrics_history.jsonl`` with
``source: live`` and checks them against the deployment's thresholds, so an
alert can say that the model got worse, not only that the inputs moved.

For a classifier it also measures what only labels can tell: ROC AUC and log
loss from the class probabilities (logged and thresholded with the other
metrics), the confusion matrix and each class's precision, recall, F1 and
support (logged beside them, for the reports; not thresholded).
"""

import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from easy_mlops.data.loaders import check_data_file, load_table
from easy_mlops.deployment.loading import Deployment, Scores
from easy_mlops.errors import DataError
from easy_mlops.jsonsafe import json_values
from easy_mlops.log_shipping import ship
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
    "unlabelled_rows", "target", "data"}``, and for a classifier
    ``"classification"`` (see :func:`class_details`), which the metrics log keeps too.
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
    classifier = problem_type == "classification"
    without_probabilities = deployment.without_probabilities() if classifier else None
    scores = deployment.score(
        labelled.drop(columns=[target]),
        source=str(data_path),
        proba=classifier and without_probabilities is None,
    )
    metrics = evaluate(problem_type, truth, scores.predictions)
    details: dict[str, Any] = {}
    if classifier:
        probability_metrics, details["classification"] = class_details(
            truth, scores, getattr(deployment.model, "classes_", None), without_probabilities
        )
        metrics.update(probability_metrics)
    alerts = deployment_monitor(deployment.directory).log_metrics(
        metrics, deployment.version, source=LIVE, details=details
    )
    ship(deployment.directory)
    log_live_metrics(deployment.directory, metrics)  # to the deployment's MLflow run, when it has one
    return {
        "data": str(data_path),
        "target": target,
        "rows": len(labelled),
        "unlabelled_rows": len(frame) - len(labelled),
        "metrics": metrics,
        "alerts": alerts,
        **details,
    }


def class_details(
    truth: pd.Series, scores: Scores, classes: Any, without_probabilities: str | None = None
) -> tuple[dict[str, float], dict[str, Any]]:
    """ROC AUC and log loss (metrics: thresholded and charted), and the per-class details.

    The details are ``{"labels", "positive_class", "confusion_matrix",
    "per_class", "not_computed"}``: ``labels`` are the deployment's classes in
    its order (``classes``; None: the labels and predictions seen, sorted),
    then any label that is none of them; the confusion matrix's rows are
    true labels and its columns predicted ones, in that order.
    ``positive_class`` is the class binary ROC AUC is of (the second, as in
    scikit-learn). A metric that cannot be measured is left out, and
    ``not_computed`` says why (no ``predict_proba``, a single class among
    the labels, labels the deployment does not know).
    """
    from sklearn import metrics

    known = list(classes) if classes is not None else sorted(set(truth) | set(scores.predictions), key=str)
    unknown = sorted(set(truth) - set(known), key=str)
    order = known + unknown
    matrix = metrics.confusion_matrix(truth, scores.predictions, labels=order)
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        truth, scores.predictions, labels=order, zero_division=0
    )
    shown = json_values(order)
    per_class = [
        {"label": label, "precision": float(p), "recall": float(r), "f1_score": float(f), "support": int(n)}
        for label, p, r, f, n in zip(shown, precision, recall, f1, support, strict=True)
    ]
    measured, not_computed = probability_metrics(truth, scores, known, unknown, without_probabilities)
    details = {
        "labels": shown,
        "positive_class": shown[1] if len(known) == 2 else None,
        "confusion_matrix": matrix.tolist(),
        "per_class": per_class,
        "not_computed": not_computed,
    }
    return measured, details


def probability_metrics(
    truth: pd.Series, scores: Scores, known: list, unknown: list, without_probabilities: str | None
) -> tuple[dict[str, float], dict[str, str]]:
    """``roc_auc`` (binary: of the positive class; else one-vs-rest, weighted by support) and
    ``log_loss``, with the reason for each one that is not defined here."""
    from sklearn import metrics

    if without_probabilities:
        return {}, dict.fromkeys(("roc_auc", "log_loss"), without_probabilities)
    if unknown:
        reason = f"label(s) {', '.join(map(str, unknown))} are not classes of this deployment"
        return {}, dict.fromkeys(("roc_auc", "log_loss"), reason)
    measured, not_computed = {}, {}
    probabilities = scores.probabilities
    seen = set(truth)
    present = [label for label in known if label in seen]
    if len(present) < 2:
        not_computed["roc_auc"] = f"the labels hold a single class ({present[0]}): ROC AUC needs two"
    elif len(known) == 2:
        measured["roc_auc"] = float(metrics.roc_auc_score(truth == known[1], probabilities[:, 1]))
    else:
        from sklearn.exceptions import UndefinedMetricWarning

        with warnings.catch_warnings():  # a class absent from the labels weighs nothing: no warning
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            measured["roc_auc"] = float(
                metrics.roc_auc_score(
                    truth, probabilities, multi_class="ovr", average="weighted", labels=known
                )
            )
    measured["log_loss"] = float(metrics.log_loss(truth, probabilities, labels=known))
    return measured, not_computed


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
