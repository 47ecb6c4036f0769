"""A deployment loaded back: one object that knows its metadata and predicts a frame.

:meth:`Deployment.load` takes what a user names (a directory, ``latest`` or a
URL), checks every artifact's size and SHA-256 against the metadata before
anything is unpickled (loading a joblib file runs code), and holds the model,
the preprocessor and the input schema. Every consumer (the CLI, the Python
API, the endpoint script, replay) predicts through :meth:`Deployment.predict`,
and asks for class probabilities through :meth:`Deployment.score`.
"""

import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from easy_mlops import serialization
from easy_mlops.deployment.catalog import resolve_deployment
from easy_mlops.deployment.metadata import read_metadata, read_snapshot_data, verify_files
from easy_mlops.errors import DataError, DeploymentError
from easy_mlops.versions import version_drift

log = logging.getLogger(__name__)


@dataclass
class Scores:
    """What a deployment delivers for a table: one label per row and, when asked for, each row's
    probability of each class (``classes``: the original labels, in the probabilities' column order).

    Sliced by rows (``scores[a:b]``), so a server can score several requests' rows
    together and hand each its own.
    """

    predictions: np.ndarray
    classes: np.ndarray | None = None
    probabilities: np.ndarray | None = None  # rows x classes

    def __len__(self) -> int:
        return len(self.predictions)

    def __getitem__(self, rows: slice) -> "Scores":
        probabilities = None if self.probabilities is None else self.probabilities[rows]
        return Scores(self.predictions[rows], self.classes, probabilities)

    @classmethod
    def joined(cls, parts: list["Scores"], classes: np.ndarray | None = None) -> "Scores":
        """The scores of a table scored in parts, in order; with ``classes``, its probabilities too
        (no parts: the columns without rows)."""
        if not parts:
            probabilities = None if classes is None else np.empty((0, len(classes)))
            return cls(np.empty(0, dtype=object), classes, probabilities)
        predictions = np.concatenate([part.predictions for part in parts])
        if classes is None:
            return cls(predictions)
        return cls(predictions, parts[0].classes, np.concatenate([part.probabilities for part in parts]))


@dataclass
class Deployment:
    """A verified, loaded deployment directory (MLflow's ``PyFuncModel`` is the model for it)."""

    directory: Path
    metadata: dict[str, Any]
    model_data: dict[str, Any]  # {"model": estimator, "problem_type", "metrics", "versions", ...}
    preprocessor: Any

    @classmethod
    def load(
        cls, reference: str | Path, verify: bool = True, output_dir: str | Path | None = None
    ) -> "Deployment":
        """Resolve ``reference`` (a directory, ``latest`` under ``output_dir``, or a URL fetched into
        the cache), verify its artifacts unless ``verify=False``, and load them."""
        directory = resolve_deployment(reference, output_dir)
        metadata = read_metadata(directory)
        if verify:
            verify_files(directory, metadata)
        drift = version_drift(metadata.get("versions", {}))
        if drift:
            log.warning(
                "deployment %s was made with other library versions: %s",
                directory.name,
                ", ".join(f"{name} {then} (now {now})" for name, (then, now) in sorted(drift.items())),
            )
        model_data = serialization.load(_artifact(directory, metadata, "model_path", "model.joblib"), "model")
        if not isinstance(model_data, dict) or "model" not in model_data:
            model_data = {"model": model_data}
        preprocessor_file = _artifact(directory, metadata, "preprocessor_path", "preprocessor.joblib")
        if "preprocessor" in model_data and not metadata.get("artifacts", {}).get("preprocessor_path"):
            preprocessor = model_data["preprocessor"]  # made without save_preprocessor: embedded
        else:
            preprocessor = serialization.load(preprocessor_file, "preprocessor")
        return cls(directory, metadata, model_data, preprocessor)

    @property
    def model(self) -> Any:
        return self.model_data["model"]

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or self.directory.name)

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", ""))

    @property
    def input_schema(self) -> list[dict[str, str]] | None:
        return self.metadata.get("input_schema")

    @property
    def input_columns(self) -> list[str]:
        """The feature columns a table to score must hold, in training order (none recorded: [])."""
        return [column["name"] for column in self.input_schema or []]

    @property
    def data_encoding(self) -> str | None:
        """The encoding of the training file when it was not UTF-8: files to score are read with it."""
        data = (self.metadata.get("run") or {}).get("data") or {}
        return (data.get("format") or {}).get("encoding")

    def read_in_chunks(self, path: str | Path, chunk_rows: int) -> Iterator[Any]:
        """A data file to score, ``chunk_rows`` rows at a time, read as this deployment reads files:
        in its training data's encoding, a feature that JSON records leave out kept as gaps."""
        from easy_mlops.data.loaders import iter_table

        return iter_table(path, chunk_rows, self.data_encoding, self.input_columns)

    @property
    def log_dir(self) -> Path:
        return self.directory / "logs"

    def snapshot(self) -> Any:
        """The run's resolved config (``config.yaml``), or None."""
        return read_snapshot_data(self.directory)

    @property
    def problem_type(self) -> str | None:
        return self.metadata.get("problem_type") or self.model_data.get("problem_type")

    @property
    def classes(self) -> np.ndarray:
        """The labels a classifier predicts, in the order of :meth:`predict_proba`'s columns."""
        self.check_probabilities()
        return np.asarray(self.model.classes_)

    def without_probabilities(self) -> str | None:
        """Why this deployment gives no class probabilities (None when it does): a regression
        deployment predicts numbers, and some classifiers (``LinearSVC``...) have no ``predict_proba``."""
        if self.problem_type == "regression":
            return "a regression deployment predicts numbers, not class probabilities"
        if not hasattr(self.model, "predict_proba"):
            return f"its estimator {type(self.model).__name__} has no predict_proba"
        if not hasattr(self.model, "classes_"):
            return f"its estimator {type(self.model).__name__} has no classes_ to name the columns"
        return None

    def check_probabilities(self) -> None:
        """A :class:`DeploymentError` naming the deployment when it gives no class probabilities."""
        reason = self.without_probabilities()
        if reason:
            raise DeploymentError(f"{self.name}: {reason}; predict without proba")

    def features(self, frame: Any, source: str | None = None) -> Any:
        """``frame`` reconciled with the input schema and preprocessed: what the estimator is given.

        The target column is dropped when present, extra columns are ignored,
        columns are reordered; a missing one is a :class:`DataError` naming
        it (and ``source``, the file or request it came from).
        """
        if len(frame) == 0:
            raise DataError(f"{source or 'input'}: no rows to score")
        target = self.metadata.get("target_column")
        if target in frame.columns:
            frame = frame.drop(columns=[target])
        try:
            features = self.preprocessor.transform(frame)
        except DataError as exc:
            raise DataError(f"{source}: {exc}" if source else str(exc)) from exc
        return features

    def predict(self, frame: Any, source: str | None = None) -> np.ndarray:
        """One prediction per row of ``frame``, in order (see :meth:`features` for the reconciling)."""
        return self.model.predict(self.features(frame, source))

    def predict_proba(self, frame: Any, source: str | None = None) -> np.ndarray:
        """Each row's probability of each class: one column per :attr:`classes` label, in that order.

        A :class:`DeploymentError` before anything is scored when the deployment has none.
        """
        self.check_probabilities()
        return self.model.predict_proba(self.features(frame, source))

    def score(self, frame: Any, source: str | None = None, proba: bool = False) -> Scores:
        """The labels :meth:`predict` gives and, with ``proba``, the class probabilities, from one
        preprocessing of ``frame``.

        The labels are the estimator's own ``predict`` (a forest's, which is the
        most probable class, read off the probabilities), so they are those
        ``predict`` delivers and logs either way.
        """
        if not proba:
            return Scores(self.predict(frame, source))
        self.check_probabilities()
        features = self.features(frame, source)
        classes, probabilities = np.asarray(self.model.classes_), self.model.predict_proba(features)
        if predicts_most_probable(self.model):  # the same labels, without a second pass over the trees
            return Scores(classes.take(np.argmax(probabilities, axis=1)), classes, probabilities)
        return Scores(self.model.predict(features), classes, probabilities)


def predicts_most_probable(model: Any) -> bool:
    """Whether ``model.predict`` is, in scikit-learn's own code, the class of highest ``predict_proba``:
    a forest's (``classes_.take(argmax(predict_proba))``), not overridden. Other classifiers may
    break ties or threshold differently (``SVC``'s Platt scaling, a booster's raw margin)."""
    ensemble = sys.modules.get("sklearn.ensemble")  # imported whenever the model is a forest
    if ensemble is None or getattr(model, "n_outputs_", 1) != 1:
        return False
    return type(model).predict is ensemble.RandomForestClassifier.predict  # ExtraTrees' too


def _artifact(directory: Path, metadata: dict[str, Any], key: str, default: str) -> Path:
    """An artifact inside the directory (the metadata's absolute paths may be stale after a move)."""
    recorded = metadata.get("artifacts", {}).get(key)
    return directory / (Path(recorded).name if recorded else default)


def load_deployment(reference: str | Path, verify: bool = True) -> tuple[Any, Any, dict[str, Any]]:
    """``(model_data, preprocessor, metadata)``; ``verify=False`` skips the checksum check."""
    deployment = Deployment.load(reference, verify)
    return deployment.model_data, deployment.preprocessor, deployment.metadata
