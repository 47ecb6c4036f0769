"""Read a deployment directory back: metadata, integrity check, model, preprocessor.

A directory is a deployment when it holds a metadata file carrying the
``easy_mlops_metadata`` marker (``metadata.json`` unless renamed). Every file
listed there is checked against its recorded size and SHA-256 before anything
is unpickled, because loading a joblib file runs code.
"""

import json
import logging
from pathlib import Path
from typing import Any

from easy_mlops.deployment import serialization
from easy_mlops.errors import DeploymentError
from easy_mlops.files import file_fingerprint
from easy_mlops.versions import version_drift

log = logging.getLogger(__name__)

MARKER = "easy_mlops_metadata"
DEFAULT_METADATA = "metadata.json"


def find_metadata_file(deployment_dir: str | Path) -> Path | None:
    """The metadata file of a deployment directory, or None if it is not one."""
    directory = Path(deployment_dir)
    if not directory.is_dir():
        return None
    default = directory / DEFAULT_METADATA
    candidates = [default] + sorted(p for p in directory.glob("*.json") if p != default)
    for path in candidates:
        if not path.is_file():
            continue
        try:
            with path.open("rb") as handle:
                if MARKER.encode() in handle.read(4096):
                    return path
        except OSError:
            continue
    return None


def read_metadata(deployment_dir: str | Path) -> dict[str, Any]:
    """The parsed metadata of a deployment, or one line saying why it is not one."""
    directory = Path(deployment_dir)
    if not directory.exists():
        raise DeploymentError(f"{directory}: no such deployment directory")
    path = find_metadata_file(directory)
    if path is None:
        default = directory / DEFAULT_METADATA
        if default.is_file():
            raise DeploymentError(
                f"{default}: not a deployment metadata file (not JSON written by make-mlops-easy)"
            )
        raise DeploymentError(f"{directory}: not a deployment (no {DEFAULT_METADATA} inside)")
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DeploymentError(f"{path}: metadata is not valid JSON ({exc})") from exc
    if not isinstance(metadata, dict) or MARKER not in metadata:
        raise DeploymentError(f"{path}: not a deployment metadata file")
    return metadata


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
