"""Batch scoring of a partitioned dataset on Ray: one task per partition, each written once.

``make-mlops-easy predict DATA_FOLDER MODEL_DIR --engine ray -o OUTPUT_FOLDER``
lists the data files under a folder or URL prefix (a partitioned Parquet or
CSV dataset) and scores each in a Ray task, on the local machine's cluster or
a running one (``--address``). A task reads its partition, scores it with the
deployment (fetched into the node's cache when it is a URL), and writes:

- its predictions, under the same relative path in the output folder
  (Parquet for Parquet partitions, else CSV; a ``prediction`` column, and a
  ``probability_<class>`` column per class with ``--proba``), whole: a
  temporary name renamed on a file system, one PUT on object storage;
- its log segment (:mod:`easy_mlops.observability.segments`): the partition's
  predictions, index and drift counts, named after the job and its output, so
  that the two are replaced together whatever files the dataset gained or lost.
  An empty partition (no rows, or a header only) gets an output with the
  columns and no rows, and an empty segment (in place of an earlier run's).

A task Ray retries (its worker died) or a whole job run again into the same
output folder writes the same two names again, so a partition's output and
log are replaced, never duplicated, and ``status`` counts each row once. The
segments go to the deployment's log location, or to its own
``logs/segments/`` when it has none (then every node must see that folder: on
a cluster of several machines, use a deployment in object storage or
``observability.log_uri``).

One task per partition rather than Ray Data's ``map_batches``: Ray Data
re-blocks rows across files, and an output and a log that are exactly once
per partition need the partition to be the unit that is retried.
"""

import hashlib
import io
import logging
import os
import resource
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from easy_mlops.deployment.loading import Deployment, Scores
from easy_mlops.deployment.storage import describe_failure, filesystem, is_remote
from easy_mlops.errors import ConfigError, DataError, DeploymentError, NoRowsError
from easy_mlops.files import write_whole
from easy_mlops.log_shipping import segment_store
from easy_mlops.monitoring import SegmentLogging, segment_logging

log = logging.getLogger(__name__)

ENGINES = ("ray",)
PARTITION_SUFFIXES = (".parquet", ".csv", ".tsv", ".json", ".jsonl")
TASK_RETRIES = 3  # a task whose worker died is run again this many times
CONNECT_TIMEOUT_S = 5  # how long a cluster's address may take to answer
# Rows a task reads and scores at a time. Parsing and preprocessing a chunk take about 4.5 times its
# size in memory; at 50,000 rows (half predict's chunk) a task adds 81 MiB over an idle worker for a
# 500,000-row partition of 89 MiB, as fast as with 100,000 (bench/FLEET_RESULTS.md).
CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class Partition:
    """One data file of the dataset and where its predictions go."""

    source: str  # URL or path of the data file
    output: str  # URL or path of its predictions file

    def log_writer(self, job: str) -> str:
        """The writer its log segment is named after: one per output file of the job."""
        return f"{job}-{hashlib.sha256(self.output.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class BatchJob:
    """What every task needs: plain values, sent to the workers."""

    job: str  # names the job's segments: the same output folder and deployment, the same job
    deployment: str  # a local directory or a URL every node can read
    log: bool
    verify: bool
    proba: bool  # a column of each class's probability beside the predictions
    chunk_rows: int  # rows a task scores at a time: its memory is bounded by a chunk, not the partition


def partitions(data: str, output: str) -> list[Partition]:
    """The data files under ``data`` (sorted), each with its predictions' place under ``output``;
    ``data`` may be one file, written to ``output`` under its own name."""
    fs, root = filesystem(data)
    root = root.rstrip("/")
    try:
        one_file = fs.isfile(root)
        listed = [root] if one_file else fs.find(root)
    except Exception as exc:
        raise DataError(f"{data}: cannot list the dataset: {describe_failure(exc)}") from exc
    if one_file:
        root = root.rsplit("/", 1)[0]
    found = sorted(
        path
        for path in listed
        if path.lower().endswith(PARTITION_SUFFIXES) and not Path(path).name.startswith((".", "_"))
    )
    if not found:
        raise DataError(f"{data}: no data files ({', '.join(PARTITION_SUFFIXES)}) under it")
    protocol = data.split("://", 1)[0] + "://" if is_remote(data) else ""
    out = output.rstrip("/")
    return [Partition(f"{protocol}{path}", f"{out}/{_output_name(path[len(root) + 1 :])}") for path in found]


def check_output_folder(data: str, output: str) -> None:
    """Refuse, before a cluster starts, an output that is a file, a local folder that cannot be
    written, or a folder inside the dataset (a second run would score the predictions as data)."""
    fs, path = filesystem(output)
    try:
        is_file = fs.isfile(path)
    except Exception as exc:
        raise DataError(f"{output}: cannot reach the output folder: {describe_failure(exc)}") from exc
    if is_file:
        raise DataError(
            f"{output}: is a file; -o names the folder that gets a predictions file per partition"
        )
    data_fs, root = filesystem(data)
    if data_fs.protocol == fs.protocol and f"{path.rstrip('/')}/".startswith(f"{root.rstrip('/')}/"):
        raise DataError(f"{output}: is inside the dataset {data}; write the predictions elsewhere")
    if not is_remote(output):
        existing = Path(path)
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK):
            raise DataError(f"{output}: cannot write there ({existing} is not a writable folder)")


def _output_name(relative: str) -> str:
    stem, _, suffix = relative.rpartition(".")
    return f"{stem}.parquet" if suffix.lower() == "parquet" else f"{stem}.csv"


def job_name(output: str, deployment_name: str) -> str:
    """A job's name: the same output folder and deployment always give the same one."""
    return "batch" + hashlib.sha256(f"{output.rstrip('/')}\n{deployment_name}".encode()).hexdigest()[:10]


@lru_cache(maxsize=4)
def _deployment(reference: str, verify: bool) -> tuple[Deployment, SegmentLogging]:
    """The deployment and what its observability steps log, loaded once per worker process,
    whatever number of partitions it scores."""
    deployment = Deployment.load(reference, verify)
    return deployment, segment_logging(deployment.directory)


def score_partition(job: BatchJob, partition: Partition) -> tuple[int, float]:
    """Score one partition a chunk at a time, write its predictions whole and its log segment;
    returns its rows and the worker's peak memory so far (MiB)."""
    deployment, logged = _deployment(job.deployment, job.verify)
    with (
        _local_copy(partition.source) as local,
        logged.builder(partition.log_writer(job.job), 0) as segment,
    ):
        chunks = []
        try:
            for chunk in deployment.read_in_chunks(local, job.chunk_rows):
                scores = deployment.score(chunk, source=partition.source, proba=job.proba)
                chunks.append(scores)
                if job.log:
                    segment.add(scores.predictions, deployment.version, {"source": partition.source}, chunk)
        except NoRowsError:
            pass  # an empty partition: its output has the columns and no rows
        scored = Scores.joined(chunks, deployment.classes if job.proba else None)
        columns = {"prediction": scored.predictions}
        if job.proba:
            for position, label in enumerate(scored.classes):
                columns[f"probability_{label}"] = scored.probabilities[:, position]
        _write_predictions(partition.output, columns)
        if job.log:
            segment.store(segment_store(deployment.directory), keep_empty=True)
    return len(columns["prediction"]), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def _local_copy(source: str) -> Iterator[Path]:
    """A partition's file on this node's disk: itself, or a copy of a remote one (removed after)."""
    if not is_remote(source):
        yield Path(source)
        return
    fs, path = filesystem(source)
    with tempfile.TemporaryDirectory(prefix="easy-mlops-partition-") as scratch:
        local = Path(scratch) / Path(path).name
        fs.get_file(path, str(local))
        yield local


def _write_predictions(target: str, columns: dict[str, Any]) -> None:
    import pandas as pd

    frame = pd.DataFrame(columns)
    buffer = io.BytesIO()
    if target.endswith(".parquet"):
        frame.to_parquet(buffer, index=False)
    else:
        frame.to_csv(buffer, index=False)
    fs, path = filesystem(target)
    write_whole(fs, path, buffer.getvalue())


def _join_cluster(ray: Any, address: str | None) -> None:
    """Start a cluster of this machine's own (no ``address``: never one another command left
    running here), or join the one at ``address``; one line when none answers there (Ray itself
    would retry for minutes)."""
    if address and address != "auto":
        host, _, port = address.removeprefix("ray://").rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
        except (OSError, ValueError) as exc:
            reason = "give it as HOST:PORT" if isinstance(exc, ValueError) else describe_failure(exc)
            raise ConfigError(f"--address {address}: no Ray cluster answers there ({reason})") from exc
    try:
        ray.init(
            address=address or "local", include_dashboard=False, configure_logging=False, log_to_driver=False
        )
    except ConnectionError as exc:
        raise ConfigError(
            f"--address {address}: no running Ray cluster found ({str(exc).splitlines()[0]}); "
            "start one with `ray start --head`, or leave --address out to start one for this job"
        ) from exc


def score_dataset(
    data: str,
    reference: str,
    output: str,
    engine: str = "ray",
    address: str | None = None,
    log_predictions: bool = True,
    verify: bool = True,
    chunk_rows: int | None = None,
    proba: bool = False,
) -> dict[str, Any]:
    """Score every partition of ``data`` on ``engine``, each task ``chunk_rows`` rows at a time;
    returns what was done (rows, partitions, where)."""
    if engine not in ENGINES:
        raise ConfigError(f"--engine {engine!r}: the engines are {', '.join(ENGINES)}")
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("--engine ray needs Ray: pip install 'make-mlops-easy[ray]'") from exc
    deployment = Deployment.load(reference, verify)  # a bad deployment fails before a cluster starts
    if proba:
        deployment.check_probabilities()
    shared = reference if is_remote(reference) else str(deployment.directory.resolve())
    check_output_folder(data, output)
    found = partitions(data, output)
    job = BatchJob(
        job_name(output, deployment.name), shared, log_predictions, verify, proba, chunk_rows or CHUNK_ROWS
    )
    started = time.monotonic()
    _join_cluster(ray, address)
    try:
        task = ray.remote(max_retries=TASK_RETRIES)(score_partition)
        pending = {task.remote(job, partition): partition for partition in found}
        rows, peak = 0, 0.0
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            partition = pending.pop(done[0])
            try:
                scored, memory = ray.get(done[0])
                rows, peak = rows + scored, max(peak, memory)
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if isinstance(exc.cause, Exception) else exc
                text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
                raise DeploymentError(f"{partition.source}: scoring failed: {text}") from exc
            except ray.exceptions.RayError as exc:
                raise DeploymentError(
                    f"{partition.source}: its task failed {TASK_RETRIES + 1} times: {type(exc).__name__}"
                ) from exc
        workers = int(ray.cluster_resources().get("CPU", 0))
    finally:
        ray.shutdown()
    return {
        "rows": rows,
        "partitions": len(found),
        "output": output,
        "job": job.job,
        "workers": workers,
        "seconds": time.monotonic() - started,
        "peak_worker_mib": peak,
    }
