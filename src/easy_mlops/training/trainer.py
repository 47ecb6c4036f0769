"""Train one estimator on a hold-out split and measure it.

The problem type comes from the target column unless configured. The
preprocessor is fitted on the training rows only; optional cross-validation
also runs on the training rows only, so hold-out rows never inform the model.
"""

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from easy_mlops.config.config import PreprocessingConfig, TrainerConfig
from easy_mlops.config.instantiate import instantiate
from easy_mlops.errors import ConfigError, DataError
from easy_mlops.metrics import METRIC_NAMES, metric_direction, optimized_metric
from easy_mlops.preprocessing.transformer import (
    EMPTY,
    Preprocessor,
    infinite_as_missing,
    keep_columns_override,
)
from easy_mlops.profiles import reference_profile
from easy_mlops.training.library_warnings import relaying_warnings
from easy_mlops.versions import library_versions

log = logging.getLogger(__name__)

# Integer targets with at most this many distinct values, each seen on average at least
# ROWS_PER_CLASS times, are taken as classes: 20 body weights in 20 rows are a quantity.
MAX_INTEGER_CLASSES = 20
ROWS_PER_CLASS = 5


def detect_problem_type(target: pd.Series) -> str:
    """Classification for text, boolean or few-valued integer targets; else regression."""
    if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
        return "classification"
    values = target.dropna()
    if pd.api.types.is_float_dtype(values) and not np.all(np.mod(values, 1) == 0):
        return "regression"
    distinct = values.nunique()
    few = distinct <= MAX_INTEGER_CLASSES and distinct * ROWS_PER_CLASS <= len(values)
    return "classification" if few or distinct <= 2 else "regression"


class TrainedModel:
    """A fitted estimator with what it was trained for; the trainer backend of the guide."""

    def __init__(self, estimator: Any, problem_type: str, target_column: str, metrics: dict[str, float]):
        self.estimator = estimator
        self.problem_type = problem_type
        self.target_column = target_column
        self.metrics = metrics

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.estimator.predict(features)

    def save_model(self, path: str | Path, preprocessor: Any = None) -> None:
        """Write the estimator and its metadata as one dict (key ``model``); ``.skops`` or joblib.

        ``preprocessor`` is embedded (key ``preprocessor``) in a deployment that saves no
        preprocessor file of its own, so the model file alone predicts.
        """
        from easy_mlops.serialization import dump

        data = self.model_data()
        if preprocessor is not None:
            data["preprocessor"] = preprocessor
        dump(data, Path(path))

    def model_data(self) -> dict[str, Any]:
        return {
            "model": self.estimator,
            "problem_type": self.problem_type,
            "target_column": self.target_column,
            "metrics": self.metrics,
            "versions": library_versions(),
        }


def resolve_problem_type(trainer_cfg: TrainerConfig, target: pd.Series, target_column: str) -> str:
    """The configured problem type, or the detected one; checks the target fits it."""
    configured = str(trainer_cfg.problem_type)  # auto, classification or regression: the schema's Enum
    missing = int(target.isna().sum())
    if missing:
        raise DataError(
            f"target column '{target_column}' has {missing} missing value(s); drop or fill those rows"
        )
    problem_type = detect_problem_type(target) if configured == "auto" else configured
    if problem_type == "classification":
        classes = target.unique()
        if len(classes) < 2:
            only = classes[0].item() if hasattr(classes[0], "item") else classes[0]
            raise DataError(
                f"target column '{target_column}' has a single class ({only!r}); "
                "classification needs at least two"
            )
    elif not pd.api.types.is_numeric_dtype(target):
        raise DataError(f"target column '{target_column}' is not numeric; regression needs numbers")
    return problem_type


def check_device(trainer_cfg: TrainerConfig) -> None:
    """A GPU asked for (``trainer.model.device=cuda``) must be there: checked before any data is read,
    since XGBoost would fall back to the CPU with a warning."""
    device = str(trainer_cfg.model.get("device") or "cpu")
    if not device.startswith("cuda"):
        return
    try:
        from easy_mlops.training.boosting import cuda_available
    except ImportError as exc:
        raise ConfigError(
            f"config key 'trainer.model.device': device '{device}' needs XGBoost: "
            "pip install 'make-mlops-easy[boosting]'"
        ) from exc
    if not cuda_available():
        raise ConfigError(
            f"config key 'trainer.model.device': device '{device}' requested but no CUDA device is available"
        )


def build_estimator(trainer_cfg: TrainerConfig, problem_type: str, trusted: Iterable[str] = ()) -> Any:
    """Instantiate ``trainer.model`` for ``problem_type``: its ``_target_``, or, when that depended
    on the problem type the run found (None in the typed config), ``trainer.estimators[problem_type]``."""
    node = dict(trainer_cfg.model)
    node["_target_"] = node.get("_target_") or trainer_cfg.estimators.get(problem_type)
    if node["_target_"] is None:
        supported = ", ".join(trainer_cfg.estimators) or "none"
        raise ConfigError(
            f"config key 'trainer.model._target_': this trainer has no estimator for "
            f"{problem_type} (it supports: {supported}); choose another "
            "trainer= preset or set trainer.model._target_"
        )
    return instantiate(node, "trainer.model", trusted)


def split(frame: pd.DataFrame, target_column: str, problem_type: str, test_size: float, seed: int):
    """Hold-out split, stratified for classification."""
    from sklearn.model_selection import train_test_split

    stratify = frame[target_column] if problem_type == "classification" else None
    try:
        return train_test_split(frame, test_size=test_size, random_state=seed, stratify=stratify)
    except ValueError as exc:
        raise DataError(
            f"cannot split {len(frame)} rows for hold-out evaluation: "
            + (split_advice(frame[target_column], target_column) if stratify is not None else str(exc))
        ) from exc


def split_advice(target: pd.Series, target_column: str) -> str:
    """Why a stratified split failed, in the user's terms, and the way out for a numeric target."""
    counts = target.value_counts()
    rare = counts[counts < 2]
    advice = (
        f"{len(rare)} of the {len(counts)} classes of '{target_column}' have a single row"
        if len(rare)
        else f"the {len(counts)} classes of '{target_column}' do not fit trainer.test_size"
    ) + "; each class needs at least 2 rows"
    if pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target):
        advice += f"; if '{target_column}' is a quantity, set trainer.problem_type=regression"
    return advice


def baseline_metrics(problem_type: str, y_train: Any, y_test: Any) -> dict[str, float]:
    """What always predicting the training split's majority class (or mean) scores on the hold-out."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    classes = problem_type == "classification"
    dummy = DummyClassifier(strategy="most_frequent") if classes else DummyRegressor(strategy="mean")
    dummy.fit(np.zeros((len(y_train), 1)), y_train)
    return evaluate(problem_type, y_test, dummy.predict(np.zeros((len(y_test), 1))))


def report_baseline(metrics: dict[str, float], baseline: dict[str, float], headline: str) -> None:
    """One warning when the model does no better than the baseline on the metric the run is judged by."""
    if headline not in baseline:
        return
    lower = metric_direction(headline) == "lower"
    model, dummy = metrics[headline], baseline[headline]
    if (model >= dummy) if lower else (model <= dummy):
        log.warning(
            "the model does not beat the %s baseline on %s (%.4f vs %.4f); "
            "check the features, the target and trainer.model",
            "majority-class" if headline in METRIC_NAMES["classification"] else "mean",
            headline,
            model,
            dummy,
        )


def evaluate(problem_type: str, truth: Any, predicted: Any) -> dict[str, float]:
    """Hold-out metrics; classification scores are averaged weighted by class support."""
    from sklearn import metrics

    if problem_type == "classification":
        scores = (
            metrics.accuracy_score(truth, predicted),
            metrics.f1_score(truth, predicted, average="weighted", zero_division=0),
            metrics.precision_score(truth, predicted, average="weighted", zero_division=0),
            metrics.recall_score(truth, predicted, average="weighted", zero_division=0),
        )
    else:
        mse = metrics.mean_squared_error(truth, predicted)
        scores = (
            mse,
            np.sqrt(mse),
            metrics.mean_absolute_error(truth, predicted),
            metrics.r2_score(truth, predicted),
        )
    return {name: float(value) for name, value in zip(METRIC_NAMES[problem_type], scores, strict=True)}


def cross_validate(
    frame: pd.DataFrame,
    target_column: str,
    problem_type: str,
    preprocessing: PreprocessingConfig,
    trainer_cfg: TrainerConfig,
    trusted: Iterable[str],
    headline: str,
) -> dict[str, float]:
    """K-fold ``headline`` scores of preprocessing + estimator, refitted per fold on training rows only."""
    from sklearn.model_selection import KFold, StratifiedKFold

    folds = int(trainer_cfg.cv_folds)
    splitter = (StratifiedKFold if problem_type == "classification" else KFold)(
        n_splits=folds, shuffle=True, random_state=trainer_cfg.random_state
    )
    scores = []
    try:
        fold_splits = list(splitter.split(frame, frame[target_column]))
    except ValueError as exc:
        raise DataError(f"cannot make {folds} cross-validation folds: {exc}") from exc
    for train_rows, val_rows in fold_splits:
        preprocessor = Preprocessor.from_config(preprocessing, trusted)
        features, y_train = features_and_target(frame.iloc[train_rows], target_column)
        x_train = preprocessor.fit_transform(features)
        features, y_val = features_and_target(frame.iloc[val_rows], target_column)
        x_val = preprocessor.transform(features)
        estimator = build_estimator(trainer_cfg, problem_type, trusted).fit(x_train, y_train)
        scores.append(evaluate(problem_type, y_val, estimator.predict(x_val))[headline])
    return {f"cv_{headline}_mean": float(np.mean(scores)), f"cv_{headline}_std": float(np.std(scores))}


def features_and_target(rows: pd.DataFrame, target_column: str) -> tuple[pd.DataFrame, pd.Series]:
    """``rows`` without the target column, and the target: what the preprocessor and the estimator fit."""
    return rows.drop(columns=[target_column]), rows[target_column]


def trained_on(estimator: Any) -> str:
    """The device an estimator trained on; one trained on a GPU is then set to predict on the CPU,
    so its deployment scores on any machine."""
    params = estimator.get_params() if hasattr(estimator, "get_params") else {}
    device = str(params.get("device") or "cpu")
    if device != "cpu":
        estimator.set_params(device="cpu")
    return device


def read_as(preprocessor: Preprocessor) -> dict[str, Any]:
    """The columns read as flags or dates rather than as their text, and the flags whose empty cells
    mean the other value: what the run tells the user."""
    kinds = preprocessor.column_kinds()
    found: dict[str, Any] = {}
    for kind in ("boolean", "date"):
        if columns := [c for c, k in kinds.items() if k == kind]:
            found[kind] = columns
    if preprocessor.blank_flags_:
        found["blank_flags"] = {c: bool(value) for c, value in preprocessor.blank_flags_.items()}
    return found


def report_columns(preprocessor: Preprocessor, frame: pd.DataFrame) -> None:
    """One warning per kind of column the fitted preprocessor left out or doubts, counted in ``frame``."""

    def distinct(columns: list[str]) -> str:
        return ", ".join(f"{c} ({frame[c].nunique()} distinct values in {len(frame)} rows)" for c in columns)

    left_out = getattr(preprocessor, "left_out_", {})
    empty = [c for c, why in left_out.items() if why == EMPTY]
    if empty:
        log.warning("leaving out column(s) with no values at all: %s", ", ".join(empty))
    identifiers = preprocessor.identifiers
    if identifiers:
        log.warning(
            "leaving out identifier-like column(s) %s; keep them with %s",
            distinct(identifiers),
            keep_columns_override(identifiers),
        )
    kept = getattr(preprocessor, "distinct_integers_", [])
    if kept:
        log.warning(
            "column(s) %s: every value differs, kept as a feature (neither the name nor the values say id); "
            "if it is an identifier, drop it with preprocessing.drop_columns=[%s]",
            distinct(kept),
            ",".join(kept),
        )


def train(
    frame: pd.DataFrame,
    target_column: str,
    preprocessing: PreprocessingConfig,
    trainer_cfg: TrainerConfig,
    problem_type: str,
    trusted: Iterable[str] = (),
    optimized: str | None = None,
) -> tuple[TrainedModel, Preprocessor, dict[str, Any]]:
    """Fit preprocessing and estimator on the training split; score the hold-out split.

    ``problem_type`` is the resolved one (:func:`resolve_problem_type`, never
    ``auto``); ``optimized`` is the configured ``optimized_metric``
    (cross-validation scores it). Returns the model, the fitted preprocessor
    and the training results (``metrics``, ``optimized_metric``,
    ``problem_type``, row counts, and ``profile``: the reference drift is
    measured against).
    """
    problem_type = str(problem_type)
    optimized = optimized_metric(optimized, problem_type)
    estimator = build_estimator(trainer_cfg, problem_type, trusted)
    # Once for the whole table, so the warning counts the file, not each split or fold.
    frame = infinite_as_missing(frame, [c for c in frame.columns if c != target_column])
    with relaying_warnings(estimator):  # one line per distinct warning, not one per fold
        train_rows, test_rows = split(
            frame, target_column, problem_type, trainer_cfg.test_size, trainer_cfg.random_state
        )
        cv_scores = {}
        if trainer_cfg.cv_folds:
            cv_scores = cross_validate(
                train_rows, target_column, problem_type, preprocessing, trainer_cfg, trusted, optimized
            )
        preprocessor = Preprocessor.from_config(preprocessing, trusted)
        features, y_train = features_and_target(train_rows, target_column)
        x_train = preprocessor.fit_transform(features)
        report_columns(preprocessor, frame)
        features, y_test = features_and_target(test_rows, target_column)
        x_test = preprocessor.transform(features)
        log.info("fitting %s on %d rows", type(estimator).__name__, len(train_rows))
        estimator.fit(x_train, y_train)
        device = trained_on(estimator)
        held_out = estimator.predict(x_test)
        metrics = {**evaluate(problem_type, y_test, held_out), **cv_scores}
        baseline = baseline_metrics(problem_type, y_train, y_test)
        report_baseline(metrics, baseline, optimized)
        # What drift is measured against: the training split's features, the hold-out's predictions.
        profile = reference_profile(
            train_rows[preprocessor.feature_columns_],
            preprocessor.column_kinds(),
            held_out,
            classes=problem_type == "classification",
        )
    model = TrainedModel(estimator, problem_type, target_column, metrics)
    results = {
        "metrics": metrics,
        "baseline_metrics": baseline,
        "optimized_metric": optimized,
        "problem_type": problem_type,
        "target_column": target_column,
        "estimator": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        "train_rows": len(train_rows),
        "test_rows": len(test_rows),
        "device": device,
        "columns": read_as(preprocessor),
        "profile": profile,
        # A few training rows: the MLflow model's input example (not written to metadata.json).
        "input_example": train_rows[preprocessor.feature_columns_].head(3),
    }
    return model, preprocessor, results
