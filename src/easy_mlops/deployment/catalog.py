"""Finding deployments under an output directory, and ``latest``."""

import shutil
import time
from pathlib import Path
from typing import Any

from easy_mlops.deployment.loading import read_metadata
from easy_mlops.deployment.steps import STAGING_SUFFIX
from easy_mlops.errors import DeploymentError

LATEST = "latest"


def list_deployments(output_dir: str | Path) -> list[tuple[Path, dict[str, Any]]]:
    """Finished deployments under ``output_dir``, oldest first.

    Staging directories (``.name.partial``), empty name reservations and
    folders whose metadata is unreadable are not deployments and are skipped.
    """
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = []
    for directory in root.iterdir():
        if (
            not directory.is_dir()
            or directory.name.startswith(".")
            or directory.name.endswith(STAGING_SUFFIX)
        ):
            continue
        try:
            metadata = read_metadata(directory)
        except DeploymentError:
            continue
        found.append((directory, metadata))
    found.sort(key=lambda item: (str(item[1].get("deployment_time", "")), item[0].name))
    return found


def resolve_deployment(reference: str | Path, output_dir: str | Path = ".") -> Path:
    """A local deployment directory from a path, a remote URL (fetched into the cache)
    or ``latest`` (the newest finished deployment under ``output_dir``)."""
    from easy_mlops.deployment.remote import fetch_deployment, is_remote

    if is_remote(reference):
        return fetch_deployment(str(reference))
    if str(reference) != LATEST:
        return Path(reference)
    deployments = list_deployments(output_dir)
    if not deployments:
        raise DeploymentError(f"{output_dir}: no finished deployments to take as 'latest'")
    return deployments[-1][0]


# Leftovers younger than this may belong to a deployment still in progress.
GC_GRACE_SECONDS = 3600


def collect_garbage(output_dir: str | Path, grace_seconds: float = GC_GRACE_SECONDS) -> list[Path]:
    """Remove what killed deployments left behind: staging folders and empty name reservations.

    Only leftovers older than ``grace_seconds`` are touched, so a deployment
    running in another process keeps its staging folder. Returns what was removed.
    """
    root = Path(output_dir)
    if not root.is_dir():
        return []
    cutoff = time.time() - grace_seconds
    removed = []
    for entry in root.iterdir():
        try:
            if not entry.is_dir() or entry.stat().st_mtime > cutoff:
                continue
            if entry.name.startswith(".") and STAGING_SUFFIX in entry.name:
                shutil.rmtree(entry)
                removed.append(entry)
            elif not entry.name.startswith(".") and not any(entry.iterdir()):
                entry.rmdir()  # a reserved name whose deployment never arrived
                removed.append(entry)
        except OSError:
            continue  # taken or removed by another process meanwhile
    return removed
