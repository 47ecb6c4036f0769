"""Read a deployment directory back: integrity check, model, preprocessor.

Every file listed in the metadata is checked against its recorded size and
SHA-256 before anything is unpickled, because loading a joblib file runs code.
"""

import logging
from pathlib import Path
from typing import Any

from easy_mlops.deployment import serialization
from easy_mlops.deployment.metadata import read_metadata
from easy_mlops.errors import DeploymentError
from easy_mlops.files import file_fingerprint
from easy_mlops.versions import version_drift

log = logging.getLogger(__name__)


def verify_files(deployment_dir: str | Path, metadata: dict[str, Any]) -> None:
    """Refuse any artifact whose size or SHA-256 differs from the metadata's record."""
    directory = Path(deployment_dir)
    for relative, expected in metadata.get("files", {}).items():
        path = directory / relative
        if not path.is_file():
            raise DeploymentError(f"{path}: artifact listed in the metadata is missing")
        if path.stat().st_size != expected.get("size"):
            raise DeploymentError(
                f"{path}: size {path.stat().st_size} differs from the recorded {expected.get('size')} "
                "(truncated or modified); refusing to load it"
            )
        if file_fingerprint(path)["sha256"] != expected.get("sha256"):
            raise DeploymentError(
                f"{path}: checksum differs from the metadata (modified); refusing to load it"
            )


def artifact_file(deployment_dir: Path, metadata: dict[str, Any], key: str, default: str) -> Path:
    """Locate an artifact inside the directory (the metadata's absolute paths may be stale after a move)."""
    recorded = metadata.get("artifacts", {}).get(key)
    return deployment_dir / (Path(recorded).name if recorded else default)


def load_deployment(deployment_dir: str | Path, verify: bool = True) -> tuple[Any, Any, dict[str, Any]]:
    """``(model_data, preprocessor, metadata)``; ``verify=False`` skips the checksum check."""
    directory = Path(deployment_dir)
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
    model_data = serialization.load(artifact_file(directory, metadata, "model_path", "model.joblib"), "model")
    if not isinstance(model_data, dict) or "model" not in model_data:
        model_data = {"model": model_data}
    preprocessor = serialization.load(
        artifact_file(directory, metadata, "preprocessor_path", "preprocessor.joblib"), "preprocessor"
    )
    return model_data, preprocessor, metadata
