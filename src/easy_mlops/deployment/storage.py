"""Deployments in object storage: upload after publishing, and read back through a cache.

Built on fsspec, so any URL works (``s3://``, ``gs://``, ``file://``, ...);
``deployment=s3`` is the preset users name. An upload copies every file
first and the metadata file last: a remote copy without metadata is
incomplete and is never taken for a deployment. Remote deployments are
downloaded once into a local cache keyed by their metadata (which holds every
file's checksum), verified, and used from there; their prediction logs are
written in the cache (object storage is not an append log) and shipped back
as segments (:mod:`easy_mlops.log_shipping`).
"""

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from easy_mlops.deployment.metadata import (
    DEFAULT_METADATA,
    creation_order,
    find_metadata_file,
    find_metadata_name,
    parse_metadata,
    read_metadata,
    read_snapshot_data,
    verify_files,
)
from easy_mlops.errors import ConfigError, DeploymentError
from easy_mlops.files import MARKER_HEAD_BYTES, cache_dir, write_json_atomic

log = logging.getLogger(__name__)

EXTRAS = {"s3": "s3", "s3a": "s3"}
SEGMENTS_FOLDER = "logs/segments"  # in a remote deployment: what its servers shipped


def is_remote(reference: str | Path) -> bool:
    return "://" in str(reference)


def filesystem(uri: str, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """The fsspec filesystem and path of ``uri``; a missing driver is one line naming the extra."""
    import fsspec

    options = {k: v for k, v in (storage_options or {}).items() if v is not None and v != "***"}
    protocol = uri.split("://", 1)[0] if is_remote(uri) else "file"  # a plain path: this file system
    if protocol in ("s3", "s3a") and not options.get("endpoint_url") and os.environ.get("AWS_ENDPOINT_URL"):
        options["endpoint_url"] = os.environ["AWS_ENDPOINT_URL"]
    if isinstance(options.get("client_kwargs"), dict):
        options["client_kwargs"] = {k: v for k, v in options["client_kwargs"].items() if v is not None}
    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as exc:
        extra = EXTRAS.get(protocol)
        hint = f"pip install 'make-mlops-easy[{extra}]'" if extra else str(exc)
        raise ConfigError(f"{protocol}:// storage needs an extra package: {hint}") from exc
    except ValueError as exc:
        raise ConfigError(f"{uri}: unknown storage protocol '{protocol}'") from exc
    try:
        # No instance cache: credentials and endpoints may change between calls.
        return fsspec.core.url_to_fs(uri, skip_instance_cache=True, **options)
    except TypeError as exc:
        raise ConfigError(f"config key 'deployment.upload.storage_options': {exc}") from exc


def describe_failure(exc: BaseException) -> str:
    """A storage error in a few words: the cause, without the request dump."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, PermissionError):
        return f"access denied ({text})"
    if isinstance(exc, FileNotFoundError):
        return f"not found ({text})"
    if (
        "Could not connect" in text
        or isinstance(exc, (ConnectionError, OSError))
        and "connect" in text.lower()
    ):
        return f"endpoint unreachable ({text})"
    return f"{type(exc).__name__}: {text}"


def _bucket(protocol: str, path: str) -> str | None:
    return path.split("/", 1)[0] if protocol in ("s3", "s3a", "gs", "gcs", "az", "abfs") else None


def push_deployment(
    directory: str | Path, base_uri: str, storage_options: dict[str, Any] | None = None
) -> str:
    """Copy a finished deployment to ``<base_uri>/<name>/``, metadata last; returns its URI.

    The local metadata records the remote URI and the upload's outcome
    (``status: upload_failed`` with the error when it fails).
    """
    directory = Path(directory)
    metadata_path = find_metadata_file(directory)
    if metadata_path is None:
        raise DeploymentError(f"{directory}: not a deployment (no {DEFAULT_METADATA} inside)")
    metadata = read_metadata(directory)
    protocol = base_uri.split("://", 1)[0]
    remote_uri = f"{base_uri.rstrip('/')}/{directory.name}"
    fs, base_path = filesystem(base_uri, storage_options)
    remote_path = f"{base_path.rstrip('/')}/{directory.name}"
    bucket = _bucket(protocol, base_path)
    where = f"bucket '{bucket}'" if bucket else base_uri
    metadata["artifacts"]["remote_uri"] = remote_uri
    if protocol in ("s3", "s3a"):
        metadata["artifacts"]["s3_uri"] = remote_uri
    try:
        if bucket is not None:
            try:
                fs.ls(bucket, detail=False, refresh=True)
            except FileNotFoundError as exc:
                raise FileNotFoundError(f"bucket '{bucket}' does not exist") from exc
        metadata.update(status="deployed", remote={"uri": remote_uri, "status": "uploaded"})
        files = [
            path
            for path in sorted(directory.rglob("*"))
            if path.is_file() and path != metadata_path and not path.name.startswith(".")
        ]
        for folder in sorted({path.parent.relative_to(directory).as_posix() for path in files}):
            fs.makedirs(remote_path if folder == "." else f"{remote_path}/{folder}", exist_ok=True)
        fs.put(
            [str(path) for path in files],
            [f"{remote_path}/{path.relative_to(directory).as_posix()}" for path in files],
        )
        fs.pipe(
            f"{remote_path}/{metadata_path.name}",
            json.dumps(metadata, indent=2, default=str).encode() + b"\n",
        )
    except Exception as exc:
        cause = describe_failure(exc)
        metadata.update(
            status="upload_failed", remote={"uri": remote_uri, "status": "failed", "error": cause}
        )
        write_json_atomic(metadata_path, metadata)
        raise DeploymentError(
            f"upload of {directory.name} to {remote_uri} failed: {where}: {cause}; the local deployment is "
            f"complete, retry with `make-mlops-easy push {directory}`"
        ) from exc
    write_json_atomic(metadata_path, metadata)
    log.info("uploaded %s to %s", directory.name, remote_uri)
    return remote_uri


def upload_settings(directory: Path, uri: str | None = None) -> tuple[str, dict[str, Any]]:
    """Where ``push`` sends a deployment: ``uri``, or the run's ``deployment.upload`` settings.

    Secrets in the snapshot are interpolations (resolved now, from this
    environment) or masks (dropped: the AWS chain supplies them).
    """
    from easy_mlops.config.snapshot import resolved_section

    upload = resolved_section(read_snapshot_data(directory), "deployment.upload") or {}
    options = upload.get("storage_options") or {}
    uri = uri or upload.get("uri")
    if not uri:
        raise ConfigError(
            f"{directory}: no deployment.upload.uri was configured; pass --uri s3://BUCKET/PREFIX"
        )
    return uri, options


def cached_copy(name: str, metadata_bytes: bytes) -> Path:
    """Where this machine keeps its copy of a remote deployment: one per name and content."""
    return cache_dir("deployments") / f"{name}-{hashlib.sha256(metadata_bytes).hexdigest()[:16]}"


def remote_metadata(fs: Any, path: str) -> tuple[str, bytes] | None:
    """The metadata file's name and bytes in a remote folder, found by its marker; None if absent."""
    try:
        names = [entry.rstrip("/").rsplit("/", 1)[-1] for entry in fs.ls(path, detail=False, refresh=True)]
    except FileNotFoundError:
        return None
    name = find_metadata_name(names, lambda n: fs.cat_file(f"{path}/{n}", start=0, end=MARKER_HEAD_BYTES))
    return (name, fs.cat_file(f"{path}/{name}")) if name else None


def fetch_deployment(uri: str, storage_options: dict[str, Any] | None = None) -> Path:
    """A verified local copy of a remote deployment, downloaded once per content."""
    fs, path = filesystem(uri, storage_options)
    path = path.rstrip("/")
    name = path.rsplit("/", 1)[-1]
    try:
        found = remote_metadata(fs, path)
    except Exception as exc:
        raise DeploymentError(f"{uri}: cannot read the deployment: {describe_failure(exc)}") from exc
    if found is None:
        raise DeploymentError(
            f"{uri}: not a deployment (no {DEFAULT_METADATA}: wrong path, or an upload that did not finish)"
        )
    metadata_name, metadata_bytes = found
    metadata = parse_metadata(metadata_bytes, uri)
    local = cached_copy(name, metadata_bytes)
    if (local / metadata_name).is_file():
        log.info("using cached %s", local)
        return local
    staging = local.with_name(f".{local.name}.partial{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Not the log segments machines ship beside it (easy_mlops/log_shipping.py): logs, not artifacts.
        remote_files = [
            p
            for p in fs.find(path)
            if not p.endswith(f"/{metadata_name}") and not p.startswith(f"{path}/{SEGMENTS_FOLDER}/")
        ]
        for remote_file in remote_files:
            target = staging / remote_file[len(path) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(remote_file, str(target))
        (staging / metadata_name).write_bytes(metadata_bytes)
        verify_files(staging, metadata)
        (staging / "logs").mkdir(exist_ok=True)
        try:
            staging.rename(local)
        except OSError:  # another process cached it first
            shutil.rmtree(staging, ignore_errors=True)
    except DeploymentError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except Exception as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DeploymentError(f"{uri}: download failed: {describe_failure(exc)}") from exc
    return local


def list_remote(
    uri: str, storage_options: dict[str, Any] | None = None
) -> list[tuple[dict[str, Any], Path | None]]:
    """Every complete deployment under a remote prefix, oldest first.

    Each comes as its metadata and this machine's cached copy of it (where
    its predictions are logged), or None when it was never fetched here.
    """
    fs, path = filesystem(uri, storage_options)
    try:
        entries = fs.ls(path.rstrip("/"), detail=False, refresh=True)
    except FileNotFoundError:
        return []
    except Exception as exc:
        raise DeploymentError(f"{uri}: cannot list deployments: {describe_failure(exc)}") from exc
    found = []
    for entry in entries:
        try:
            located = remote_metadata(fs, entry.rstrip("/"))
            if located is None:
                continue  # not a deployment, or an unfinished upload
            metadata_name, metadata_bytes = located
            metadata = parse_metadata(metadata_bytes, entry)
        except Exception:
            continue
        metadata["directory"] = f"{uri.split('://', 1)[0]}://{entry}"
        local = cached_copy(entry.rstrip("/").rsplit("/", 1)[-1], metadata_bytes)
        found.append((metadata, local if (local / metadata_name).is_file() else None))
    found.sort(key=lambda item: creation_order(item[0]))
    return found
