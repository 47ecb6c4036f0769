"""A deployment's logs across machines: each writer ships sealed segments, readers sum them.

On one machine every writer appends to the deployment's ``logs/`` under a
lock, and those files are the logs. A deployment with a *log location* (one
pushed to object storage, whose segments go to ``<remote>/logs/segments``, or
one whose run set ``observability.log_uri``) is served and scored on many
machines, each on its own copy. There, a copy's ``logs/`` is the machine's
spool: writers append to it as always, and :func:`ship` seals what was
appended since the last shipment into one segment
(:mod:`easy_mlops.observability.segments`) and puts it in the log location.
The spool's ``.shipped.json`` records how far each log was shipped, so rows
left by a killed server are shipped by the next process that ships, and a
shipment repeated after a crash replaces its first copy instead of adding to it.

Readers (:func:`log_view`) sum what the copy held when it was published (its
*base*: the training metrics, the same on every machine), every segment, and
this spool's unshipped rows, into a folder laid out like ``logs/``, which the
usual steps summarise: ``status``, ``list``, ``observe`` and ``observe --html``
report the whole fleet, whatever machine asks.
"""

import hashlib
import json
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from easy_mlops.config.config import ObservabilityConfig
from easy_mlops.deployment.metadata import read_metadata, read_snapshot_data
from easy_mlops.deployment.storage import SEGMENTS_FOLDER, describe_failure, filesystem
from easy_mlops.errors import ConfigError, DeploymentError
from easy_mlops.files import cache_dir, write_json_atomic, write_whole
from easy_mlops.jsonl import locked, read_lines, read_records, tail_fingerprint
from easy_mlops.jsonsafe import now
from easy_mlops.observability.segments import (
    SegmentBuilder,
    SegmentError,
    SegmentHeader,
    SegmentStore,
    merged,
    read_body,
)
from easy_mlops.observability.steps import (
    ALERTS_LOG,
    DRIFT_COUNTS,
    METRICS_LOG,
    PREDICTIONS_INDEX,
    PREDICTIONS_LOG,
    PredictionsLoggerStep,
    read_profile,
)

log = logging.getLogger(__name__)

SHIP_STATE = ".shipped.json"
# In logs/: the segments of batch jobs and streamed predictions of a deployment without a log location,
# and of one whose location could not be reached (until the next shipment).
LOCAL_SEGMENTS = "segments"
SHIPPED_LOGS = (PREDICTIONS_LOG, METRICS_LOG, ALERTS_LOG)
NO_LOCATION = (
    "its logs are its own logs/ folder (deployments uploaded to object storage, or trained with "
    "observability.log_uri=URL, ship their logs to a log location)"
)


def log_store(deployment_dir: str | Path) -> SegmentStore | None:
    """Where the deployment's writers ship their segments; None when its ``logs/`` are the logs.

    ``observability.log_uri`` of its run (a path or an fsspec URL, one folder
    per deployment name under it), else, for a deployment uploaded to object
    storage, ``<its remote folder>/logs/segments``.
    """
    directory = Path(deployment_dir)
    metadata = read_metadata(directory)
    uri = (metadata.get("run") or {}).get("log_uri")  # the run's observability.log_uri, resolved
    name = str(metadata.get("name") or directory.name)
    remote = metadata.get("remote") or {}
    if uri:
        uri = f"{str(uri).rstrip('/')}/{name}"
    elif remote.get("status") == "uploaded" and remote.get("uri"):
        uri = f"{remote['uri'].rstrip('/')}/{SEGMENTS_FOLDER}"
    else:
        return None  # decided from metadata.json alone: list and status stay cheap
    options: dict[str, Any] = {}
    if uri.split("://", 1)[0] == str(remote.get("uri", "")).split("://", 1)[0]:
        # The endpoint and settings the deployment was uploaded with.
        options = _upload_options(read_snapshot_data(directory) or {})
    fs, root = filesystem(uri, options)
    cache = cache_dir("segments") / hashlib.sha256(uri.encode()).hexdigest()[:16]
    return SegmentStore(fs, root, cache)


def _upload_options(snapshot: dict[str, Any]) -> dict[str, Any]:
    upload = (snapshot.get("deployment") or {}).get("upload") or {}
    options = upload.get("storage_options") or {}
    if "${" in json.dumps(options, default=str):
        from easy_mlops.config.snapshot import resolved_section

        options = (resolved_section(snapshot, "deployment.upload") or {}).get("storage_options") or {}
    return dict(options)


class Spool:
    """A machine's ``logs/`` of a deployment with a log location, and how far it was shipped."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self.state_path = self.log_dir / SHIP_STATE

    def state(self) -> dict[str, Any]:
        """The shipping state (call under :meth:`locked`); the first call takes what the logs hold now
        as the copy's base: what it held when published, on every machine the same."""
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            if isinstance(state, dict) and {"writer", "seq", "base", "shipped"} <= state.keys():
                return state
            log.warning("%s is damaged; shipping again from the logs' current end", self.state_path)
        except FileNotFoundError:
            pass
        except ValueError:
            log.warning("%s is damaged; shipping again from the logs' current end", self.state_path)
        mark = {"offsets": self._ends(), "drift": stored_drift(self.log_dir)}
        state = {"writer": uuid.uuid4().hex[:12], "seq": 0, "base": mark, "shipped": mark}
        self.log_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.state_path, state)
        return state

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One shipper at a time per spool (a server's workers share their machine's spool)."""
        with locked(self.state_path):
            yield

    def _ends(self) -> dict[str, int]:
        """Where each log's last complete line ends."""
        ends = {}
        for name in SHIPPED_LOGS:
            path = self.log_dir / name
            ends[name] = _complete_end(path) if path.exists() else 0
        return ends

    def piece(
        self, start: dict[str, Any], end: dict[str, Any] | None = None
    ) -> tuple[SegmentHeader, bytes, dict[str, Any]]:
        """What the logs gained from mark ``start`` to mark ``end`` (None: now), as an unnumbered
        segment, with the end mark."""
        end = end or {"offsets": self._ends(), "drift": stored_drift(self.log_dir)}
        header = SegmentHeader(writer="", seq=0, created=now())
        body = b""
        for name in SHIPPED_LOGS:
            path = self.log_dir / name
            first, last = start["offsets"].get(name, 0), end["offsets"].get(name, 0)
            if last <= first:
                continue
            records = []
            for _, _, record in read_lines(path, first, 1, last):
                if record is not None:
                    records.append(record)
            if name == PREDICTIONS_LOG:
                with open(path, "rb") as handle:
                    handle.seek(first)
                    body = handle.read(last - first)
                for part in range(0, len(records), 10_000):
                    header.index.add_records(records[part : part + 10_000])
                header.index.lines = body.count(b"\n")
            elif name == METRICS_LOG:
                header.metrics = records
            else:
                header.alerts = records
        header.drift = _subtract_hours(end["drift"], start["drift"])
        return header, body, end

    def ship(self, store: SegmentStore) -> SegmentHeader | None:
        """Seal what was logged here since the last shipment and put it in ``store``; None when
        there was nothing new."""
        with self.locked():
            state = self.state()
            header, body, end = self.piece(state["shipped"])
            if header.is_empty():
                return None
            header.writer, header.seq = state["writer"], int(state["seq"])
            store.put(header, body)
            # Recorded only once the segment is stored: a crash in between ships the same rows
            # again under the same name, replacing the first copy.
            state.update(seq=header.seq + 1, shipped=end)
            write_json_atomic(self.state_path, state)
        log.info("shipped %d prediction(s) to %s", header.rows, store.path(header.name))
        return header


def stored_drift(log_dir: Path) -> dict[str, Any]:
    """The drift counts per hour in ``log_dir`` (replaced whole by their writer: read without a lock)."""
    try:
        hours = json.loads((log_dir / DRIFT_COUNTS).read_text(encoding="utf-8"))["hours"]
        return hours if isinstance(hours, dict) else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _complete_end(path: Path) -> int:
    """The offset just past the last newline of ``path`` (a line still being written is left out)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        position = size
        while position > 0:
            step = min(65_536, position)
            handle.seek(position - step)
            block = handle.read(step)
            newline = block.rfind(b"\n")
            if newline >= 0:
                return position - step + newline + 1
            position -= step
    return 0


def _subtract_hours(total: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """Hourly counts in ``total`` beyond ``part``; an hour whose counts went down (a rebuilt counts
    file) counts from zero again."""
    delta = {}
    for hour, counts in total.items():
        before = part.get(hour)
        if before is None:
            delta[hour] = counts
            continue
        rows = counts.get("rows", 0) - before.get("rows", 0)
        if rows < 0:
            delta[hour] = counts
            continue
        difference = {"rows": rows, "features": {}, "prediction": None}
        for name, vector in counts.get("features", {}).items():
            difference["features"][name] = _minus(vector, before.get("features", {}).get(name))
        difference["prediction"] = _minus(counts.get("prediction"), before.get("prediction"))
        if rows or any(any(v) for v in difference["features"].values() if v):
            delta[hour] = difference
    return delta


def _minus(left: list[int] | None, right: list[int] | None) -> list[int] | None:
    if left is None:
        return None
    if right is None or len(right) != len(left):
        return list(left)
    return [a - b for a, b in zip(left, right, strict=True)]


def ship(deployment_dir: str | Path) -> SegmentHeader | None:
    """Ship a deployment's unshipped logs from this machine, when it has a log location.

    A failure to reach the log location is one warning: the rows stay in the
    spool and go with the next shipment.
    """
    directory = Path(deployment_dir)
    try:
        store = log_store(directory)
        if store is None:
            return None
        shipped = Spool(directory / "logs").ship(store)
        ship_waiting_segments(directory, store)
        return shipped
    except (OSError, DeploymentError, ConfigError) as exc:
        log.warning("could not ship the logs of %s (kept here, shipped next time): %s", directory.name, exc)
        return None


def ship_now(deployment_dir: str | Path) -> tuple[SegmentHeader | None, str]:
    """``logs ship``: ship now, or say why not; returns the segment (None: nothing new) and where."""
    directory = Path(deployment_dir)
    store = log_store(directory)
    if store is None:
        raise ConfigError(f"{directory.name}: no log location to ship to: {NO_LOCATION}")
    try:
        shipped = Spool(directory / "logs").ship(store)
        ship_waiting_segments(directory, store)
    except OSError as exc:
        raise DeploymentError(f"{store.root}: cannot ship the logs: {describe_failure(exc)}") from exc
    return shipped, store.path(shipped.name) if shipped else store.root


def save_segment(deployment_dir: str | Path, segment: SegmentBuilder) -> str | None:
    """Store a finished segment (a streamed ``predict``'s) where the deployment's segments go;
    returns where (None: it logged nothing).

    A log location that cannot be reached is one warning: the segment waits in
    the deployment's ``logs/segments/`` and the next shipment takes it there.
    """
    directory = Path(deployment_dir)
    if segment.header.is_empty():
        return None
    store, waiting = log_store(directory), _own_segments(directory)
    if store is not None:
        try:
            return segment.store(store)
        except (OSError, DeploymentError) as exc:
            log.warning(
                "could not store the log segment in %s (kept in %s, shipped next time): %s",
                store.root,
                waiting.root,
                describe_failure(exc),
            )
    return segment.store(waiting)


def ship_waiting_segments(deployment_dir: Path, store: SegmentStore) -> int:
    """Move the segments waiting in the deployment's ``logs/segments/`` to its log location."""
    waiting = _own_segments(deployment_dir)
    names = sorted(waiting.listing())
    for name in names:
        write_whole(store.fs, store.path(name), Path(waiting.path(name)))
        waiting.delete([name])
    return len(names)


def _own_segments(deployment_dir: Path) -> SegmentStore:
    return SegmentStore(fsspec_local(), str(Path(deployment_dir) / "logs" / LOCAL_SEGMENTS))


def required_store(directory: Path) -> SegmentStore:
    """The log location, or the deployment's own batch segments; else one line saying it has none."""
    store = log_store(directory)
    if store is None and (directory / "logs" / LOCAL_SEGMENTS).is_dir():
        store = segment_store(directory)
    if store is None:
        raise ConfigError(f"{directory.name}: no log segments: {NO_LOCATION}")
    return store


def prepare_spool(deployment_dir: str | Path) -> None:
    """Take the copy's base before a writer first appends to it (a no-op without a log location)."""
    directory = Path(deployment_dir)
    if log_store(directory) is not None:
        spool = Spool(directory / "logs")
        with spool.locked():
            spool.state()


def fleet_header(deployment_dir: Path, store: SegmentStore) -> SegmentHeader:
    """Everything logged for the deployment: this copy's base, every segment, this spool's rest."""
    spool = Spool(deployment_dir / "logs")
    empty = {"offsets": {}, "drift": {}}
    with spool.locked():
        state = spool.state()
        base, _, _ = spool.piece(empty, state["base"])
        unshipped, _, _ = spool.piece(state["shipped"])
    try:
        shipped = store.total()
        names = set(store.listing()) if (deployment_dir / "logs" / LOCAL_SEGMENTS).is_dir() else set()
    except Exception as exc:
        raise DeploymentError(f"{store.root}: cannot read the log segments: {exc}") from exc
    # Segments waiting here for an unreachable location count too (once: a name shipped meanwhile is there).
    waiting = [header for header in _own_segments(deployment_dir).headers() if header.name not in names]
    return merged([base, shipped, *waiting, unshipped])


def segment_store(deployment_dir: str | Path) -> SegmentStore:
    """Where a batch job's tasks put their segments: the log location, or the deployment's own
    ``logs/segments/`` when it has none."""
    directory = Path(deployment_dir)
    return log_store(directory) or _own_segments(directory)


def fsspec_local() -> Any:
    import fsspec

    return fsspec.filesystem("file")


def own_logs_header(log_dir: Path) -> SegmentHeader:
    """Everything in a deployment's own ``logs/`` as one header, its predictions from their index."""
    header = SegmentHeader(writer="", seq=0, created=now())
    predictions = PredictionsLoggerStep()
    predictions.load(log_dir)
    header.index = predictions.index()
    header.metrics = list(read_records(log_dir / METRICS_LOG))
    header.alerts = list(read_records(log_dir / ALERTS_LOG))
    header.drift = stored_drift(log_dir)
    return header


@contextmanager
def log_view(deployment_dir: str | Path) -> Iterator[Path]:
    """A ``logs/`` folder to summarise: the deployment's own, or a sum laid out like one (temporary,
    removed after use): the fleet's, or its own logs plus the segments batch jobs left in it."""
    directory = Path(deployment_dir)
    store = log_store(directory)
    if store is not None:
        total = fleet_header(directory, store)
    elif (directory / "logs" / LOCAL_SEGMENTS).is_dir():
        total = merged([own_logs_header(directory / "logs"), *segment_store(directory).headers()])
    else:
        yield directory / "logs"
        return
    view = Path(tempfile.mkdtemp(prefix="easy-mlops-logs-"))
    try:
        logs = view / "logs"
        logs.mkdir()
        profile = read_profile(directory)
        if profile is not None:
            write_json_atomic(view / "profile.json", profile, indent=None)
        if total.index.total:  # none logged (the predictions logger off): no log, as in logs/
            (logs / PREDICTIONS_LOG).write_bytes(b"")
            index = total.index
            index.log_bytes, index.lines = 0, 0
            index.log_tail = tail_fingerprint(logs / PREDICTIONS_LOG, 0)
            write_json_atomic(logs / PREDICTIONS_INDEX, index.to_json(), indent=None)
        for name, records in ((METRICS_LOG, total.metrics), (ALERTS_LOG, total.alerts)):
            if records:
                text = "".join(json.dumps(record, default=str) + "\n" for record in records)
                (logs / name).write_text(text, encoding="utf-8")
        if total.drift:
            write_json_atomic(logs / DRIFT_COUNTS, {"version": 1, "hours": total.drift}, indent=None)
        yield logs
    finally:
        shutil.rmtree(view, ignore_errors=True)


def compact(deployment_dir: str | Path) -> tuple[int, int, str]:
    """Merge every segment of a deployment into one; returns (segments merged, rows, where).

    The merged segment is stored first and lists what it replaces; the
    replaced ones are deleted after. Run one compaction at a time.
    """
    store = required_store(Path(deployment_dir))
    try:
        names = sorted(store.listing())
        counted = {header.name: header for header in store.headers()}
        if len(counted) < 2:
            return 0, sum(header.rows for header in counted.values()), store.root
        header = merged(counted.values())
        header.writer, header.seq, header.created = f"compacted{uuid.uuid4().hex[:8]}", 0, now()
        header.replaces = [name for name in names if name in counted or _replaced_by(counted, name)]
        body = b"".join(read_body(store.fs, store.path(name))[1] for name in names if name in counted)
        where = store.put(header, body)
        store.delete(header.replaces)
    except (OSError, SegmentError) as exc:
        raise DeploymentError(
            f"{store.root}: compaction stopped, nothing lost: {describe_failure(exc)}"
        ) from exc
    return len(counted), header.rows, where


def _replaced_by(counted: dict[str, SegmentHeader], name: str) -> bool:
    return any(name in header.replaces for header in counted.values())


class Shipper:
    """When a long-running writer (a server) ships: every ``observability.ship_every_rows`` rows or
    ``ship_every_s`` seconds of its deployment's run, whichever comes first."""

    def __init__(self, deployment_dir: Path) -> None:
        self.deployment_dir = Path(deployment_dir)
        self.store = log_store(deployment_dir)
        observability = {}
        if self.store is not None:
            observability = (read_snapshot_data(self.deployment_dir) or {}).get("observability") or {}
        self.rows = int(observability.get("ship_every_rows") or ObservabilityConfig.ship_every_rows)
        self.seconds = float(observability.get("ship_every_s") or ObservabilityConfig.ship_every_s)
        self.logged, self.shipped_at = 0, time.monotonic()

    @property
    def active(self) -> bool:
        return self.store is not None

    def logged_rows(self, rows: int) -> bool:
        """Count rows just logged; whether a shipment is due."""
        self.logged += rows
        waited = time.monotonic() - self.shipped_at
        return self.active and (self.logged >= self.rows or waited >= self.seconds)

    def due(self) -> bool:
        return self.active and self.logged > 0 and time.monotonic() - self.shipped_at >= self.seconds

    def ship(self) -> None:
        if self.active:
            ship(self.deployment_dir)
        self.logged, self.shipped_at = 0, time.monotonic()
