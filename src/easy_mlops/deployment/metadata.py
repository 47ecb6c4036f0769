"""What a deployment says about itself: its metadata file and its config snapshot.

A deployment's metadata file carries the ``easy_mlops_metadata`` marker; it is
``metadata.json`` unless ``deployment.metadata_filename`` renamed it, and is
found by that marker the same way on disk and in object storage. Its
``config.yaml`` is the run's resolved config, read here and nowhere else.
"""

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from easy_mlops.errors import DeploymentError, yaml_problem
from easy_mlops.files import file_fingerprint, find_marked_file, find_marked_json
from easy_mlops.versions import library_versions

MARKER = "easy_mlops_metadata"
FORMAT = 1
DEFAULT_METADATA = "metadata.json"
SNAPSHOT = "config.yaml"


def find_metadata_name(names: Iterable[str], read_head: Callable[[str], bytes]) -> str | None:
    """Which of a folder's file ``names`` is the metadata file: ``metadata.json`` first, then any JSON
    file whose first bytes (``read_head(name)``) carry the marker."""
    return find_marked_json(names, read_head, MARKER, DEFAULT_METADATA)


def find_metadata_file(deployment_dir: str | Path) -> Path | None:
    """The metadata file of a local deployment directory, or None if it is not one."""
    return find_marked_file(Path(deployment_dir), MARKER, DEFAULT_METADATA)


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
    return parse_metadata(path.read_bytes(), path)


def parse_metadata(data: bytes, where: Any) -> dict[str, Any]:
    try:
        metadata = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DeploymentError(f"{where}: metadata is not valid JSON ({exc})") from exc
    if not isinstance(metadata, dict) or MARKER not in metadata:
        raise DeploymentError(f"{where}: not a deployment metadata file")
    return metadata


def creation_order(metadata: dict[str, Any]) -> tuple[str, str]:
    """Sort key: when a deployment was made, not the ``deployment_time`` label a user may set.

    Deployments made before ``created_at`` was recorded fall back to their label.
    """
    return str(metadata.get("created_at") or metadata.get("deployment_time") or ""), str(metadata.get("name"))


def checksums(directory: Path, metadata_name: str) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of every artifact (not the metadata itself, logs or hidden files)."""
    files = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if (
            path.is_file()
            and relative != metadata_name
            and not relative.startswith("logs/")
            and not path.name.startswith(".")
        ):
            files[relative] = file_fingerprint(path)
    return files


def build_metadata(
    *,
    name: str,
    directory: Path,
    metadata_name: str,
    version: str,
    deployment_time: str | None,
    training_results: dict[str, Any],
    artifacts: dict[str, Any],
    input_schema: Any,
    run_info: dict[str, Any],
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """What the metadata file says: paths, metrics, version, times, checksums, run."""
    created = (created_at or datetime.now(UTC)).isoformat()
    # profile.json holds the profile; the input example lives in the MLflow model only.
    results = {k: v for k, v in training_results.items() if k not in ("profile", "input_example")}
    return {
        MARKER: FORMAT,
        "name": name,
        "status": "deployed",
        "version": str(version),
        "deployment_time": deployment_time or created,
        "created_at": created,
        "problem_type": results.get("problem_type"),
        "target_column": results.get("target_column"),
        "metrics": dict(results.get("metrics", {})),
        "training": {k: v for k, v in results.items() if k != "metrics"},
        "artifacts": {key: value for key, value in artifacts.items() if key != "deployment_name"},
        # The guide's top-level keys, for scripts that read them there.
        "model_path": artifacts.get("model_path"),
        "preprocessor_path": artifacts.get("preprocessor_path"),
        "training_results": results,
        "files": checksums(directory, metadata_name),
        "input_schema": input_schema,
        "versions": library_versions(),
        "run": {k: v for k, v in run_info.items() if k != "config"},
    }


def read_snapshot_data(deployment_dir: str | Path) -> dict[str, Any] | None:
    """The deployment's ``config.yaml`` as plain dicts and lists (None when it has none), parsed by
    PyYAML's C loader; a secret's interpolation stays as its text (:mod:`easy_mlops.config.snapshot`
    reads it as config). A snapshot that is not valid YAML is one line naming it."""
    import yaml

    def parse(path: Path) -> Any:
        with open(path, encoding="utf-8") as handle:
            return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))

    data = _parsed_snapshot(deployment_dir, parse)
    if data is not None and not isinstance(data, dict):
        raise DeploymentError(f"{Path(deployment_dir) / SNAPSHOT}: the config snapshot is not a mapping")
    return data


def _parsed_snapshot(deployment_dir: str | Path, parse: Callable[[Path], Any]) -> Any:
    """``parse(path)`` of the deployment's ``config.yaml``, or None when it has none."""
    path = Path(deployment_dir) / SNAPSHOT
    if not path.is_file():
        return None
    try:
        return parse(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise DeploymentError(f"{path}: cannot read the config snapshot ({exc})") from exc
    except Exception as exc:  # YAML errors come in several types (PyYAML's, OmegaConf's)
        raise DeploymentError(f"{path}: the config snapshot is {yaml_problem(exc)}") from exc


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
