"""Finding deployments under an output directory, and ``latest``."""

import shutil
import time
from pathlib import Path
from typing import Any

from easy_mlops.config.config import DeploymentConfig
from easy_mlops.deployment.metadata import creation_order, read_metadata
from easy_mlops.deployment.storage import fetch_deployment, is_remote
from easy_mlops.errors import DeploymentError
from easy_mlops.metrics import headline_metric, metric_direction

LATEST = "latest"
STAGING_SUFFIX = ".partial"  # .<name>.partial/<name>: a deployment being assembled
REMOVING_SUFFIX = ".removing"  # a deployment being pruned: hidden before its files go


def staging_root(output_dir: Path, name: str) -> Path:
    """The hidden folder that claims ``name`` while its deployment is assembled inside."""
    return output_dir / f".{name}{STAGING_SUFFIX}"


def list_deployments(output_dir: str | Path) -> list[tuple[Path, dict[str, Any]]]:
    """Finished deployments under ``output_dir``, oldest first.

    Hidden folders (staging, pruning) and folders without readable metadata
    are not deployments and are skipped. The order is when each was made.
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
    found.sort(key=lambda item: creation_order(item[1]))
    return found


def resolve_deployment(reference: str | Path, output_dir: str | Path | None = None) -> Path:
    """The one answer to "which deployment": a local directory for a path, for a remote URL
    (fetched into the cache) or for ``latest`` (the newest finished deployment under
    ``output_dir``, by default ``deployment.output_dir``'s default)."""
    if is_remote(reference):
        return fetch_deployment(str(reference))
    if str(reference) != LATEST:
        return Path(reference)
    output_dir = output_dir or DeploymentConfig.output_dir
    deployments = list_deployments(output_dir)
    if not deployments:
        raise DeploymentError(f"{output_dir}: no finished deployments to take as 'latest'")
    return deployments[-1][0]


# Leftovers younger than this may belong to a deployment still in progress.
GC_GRACE_SECONDS = 3600


def collect_garbage(output_dir: str | Path, grace_seconds: float = GC_GRACE_SECONDS) -> list[Path]:
    """Remove what killed deployments left behind, and nothing else.

    That is a hidden ``.<name>.partial`` staging folder (with what it holds)
    or a hidden ``.<name>.removing`` folder of an interrupted ``prune``, and an
    empty ``<name>`` folder beside such a staging folder (the name reservation
    of earlier versions). Only leftovers older than ``grace_seconds`` are
    touched, so a deployment running in another process keeps its staging
    folder; an empty folder a user made is never a leftover. Returns what was removed.
    """
    root = Path(output_dir)
    if not root.is_dir():
        return []
    cutoff = time.time() - grace_seconds
    removed = []
    for entry in sorted(root.iterdir()):
        try:
            if not entry.is_dir() or entry.stat().st_mtime > cutoff or not is_leftover(entry.name):
                continue
            shutil.rmtree(entry)
            removed.append(entry)
            reservation = root / entry.name[1:].removesuffix(STAGING_SUFFIX)
            if (
                entry.name.endswith(STAGING_SUFFIX)
                and reservation.is_dir()
                and not any(reservation.iterdir())
            ):
                reservation.rmdir()
                removed.append(reservation)
        except OSError:
            continue  # taken or removed by another process meanwhile
    return removed


def is_leftover(name: str) -> bool:
    return name.startswith(".") and name.endswith((STAGING_SUFFIX, REMOVING_SUFFIX))


def prune_plan(
    output_dir: str | Path,
    keep: int | None = None,
    keep_best: int | None = None,
    metric: str | None = None,
    include_protected: bool = False,
) -> list[Path]:
    """The deployments ``prune`` would remove, oldest first.

    ``keep`` keeps the newest N of all; ``keep_best`` the best K of each sweep
    by ``metric`` (default: the sweep's ``optimized_metric``), and alone it touches only
    deployments made by sweeps. ``latest`` and every deployment a sweep's
    leaderboard ranks first are kept unless ``include_protected``.
    """
    if keep is None and keep_best is None:
        raise DeploymentError("say what to keep: --keep N (newest) and/or --keep-best K (per sweep)")
    if (keep is not None and keep < 0) or (keep_best is not None and keep_best < 0):
        raise DeploymentError("--keep and --keep-best must be 0 or more")
    listed = list_deployments(output_dir)
    kept: set[Path] = set()  # resolved paths
    if keep:
        kept |= {directory.resolve() for directory, _ in listed[-keep:]}
    sweeps: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for directory, metadata in listed:
        sweep_dir = (metadata.get("run", {}).get("hydra") or {}).get("sweep_dir")
        if sweep_dir:
            sweeps.setdefault(str(sweep_dir), []).append((directory, metadata))
    if keep_best is not None:
        for jobs in sweeps.values():
            recorded = jobs[0][1].get("training", {}).get("optimized_metric")
            name = headline_metric(jobs[0][1].get("metrics", {}), metric or recorded)
            sign = -1 if name and metric_direction(name) == "higher" else 1

            def score(item: tuple[Path, dict[str, Any]], name: str | None = name, sign: int = sign) -> tuple:
                value = item[1].get("metrics", {}).get(name) if name else None
                return (value is None, sign * value if value is not None else 0.0)

            kept |= {directory.resolve() for directory, _ in sorted(jobs, key=score)[:keep_best]}
    if not include_protected:
        kept |= protected(listed, sweeps)
    in_scope = (
        listed
        if keep is not None
        else sorted(
            (item for jobs in sweeps.values() for item in jobs), key=lambda item: creation_order(item[1])
        )
    )
    return [directory for directory, _ in in_scope if directory.resolve() not in kept]


def protected(
    listed: list[tuple[Path, dict[str, Any]]], sweeps: dict[str, list[tuple[Path, dict[str, Any]]]]
) -> set[Path]:
    """``latest`` and each sweep's rank-1 deployment as its leaderboard says (resolved paths)."""
    import json

    keep = {listed[-1][0].resolve()} if listed else set()
    for sweep_dir in sweeps:
        try:
            board = json.loads((Path(sweep_dir) / "sweep_summary.json").read_text(encoding="utf-8"))
            best = next(row for row in board.get("rows", []) if row.get("rank") == 1)
        except (OSError, ValueError, StopIteration):
            continue
        if best.get("deployment_dir"):
            keep.add(Path(best["deployment_dir"]).resolve())
    return keep


def remove_deployment(directory: Path) -> None:
    """Hide a deployment first (nothing lists a half-removed one), then delete it."""
    hidden = directory.with_name(f".{directory.name}{REMOVING_SUFFIX}")
    directory.rename(hidden)
    shutil.rmtree(hidden)
