"""A deployment loaded back: one object that knows its metadata and predicts a frame.

:meth:`Deployment.load` takes what a user names (a directory, ``latest`` or a
URL), checks every artifact's size and SHA-256 against the metadata before
anything is unpickled (loading a joblib file runs code), and holds the model,
the preprocessor and the input schema. Every consumer (the CLI, the Python
API, the endpoint script, replay) predicts through :meth:`Deployment.predict`.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from easy_mlops import serialization
from easy_mlops.deployment.catalog import resolve_deployment
from easy_mlops.deployment.metadata import read_metadata, read_snapshot, verify_files
from easy_mlops.errors import DataError
from easy_mlops.versions import version_drift

log = logging.getLogger(__name__)


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
    def data_encoding(self) -> str | None:
        """The encoding of the training file when it was not UTF-8: files to score are read with it."""
        data = (self.metadata.get("run") or {}).get("data") or {}
        return (data.get("format") or {}).get("encoding")

    @property
    def log_dir(self) -> Path:
        return self.directory / "logs"

    def snapshot(self) -> Any:
        """The run's resolved config (``config.yaml``), or None."""
        return read_snapshot(self.directory)

    def predict(self, frame: Any, source: str | None = None) -> np.ndarray:
        """One prediction per row of ``frame``, in order, after reconciling it with the input schema.

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
            features, _ = self.preprocessor.prepare_data(frame)
        except DataError as exc:
            raise DataError(f"{source}: {exc}" if source else str(exc)) from exc
        return self.model.predict(features)

    def as_tuple(self) -> tuple[dict[str, Any], Any, dict[str, Any]]:
        """``(model_data, preprocessor, metadata)``: what the guide's ``load_deployed_model`` returns."""
        return self.model_data, self.preprocessor, self.metadata


def _artifact(directory: Path, metadata: dict[str, Any], key: str, default: str) -> Path:
    """An artifact inside the directory (the metadata's absolute paths may be stale after a move)."""
    recorded = metadata.get("artifacts", {}).get(key)
    return directory / (Path(recorded).name if recorded else default)


def load_deployment(reference: str | Path, verify: bool = True) -> tuple[Any, Any, dict[str, Any]]:
    """``(model_data, preprocessor, metadata)``; ``verify=False`` skips the checksum check."""
    return Deployment.load(reference, verify).as_tuple()
