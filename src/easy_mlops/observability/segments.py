"""Log segments: sealed, checksummed pieces of a deployment's logs, merged by summing.

A segment is one file, written once: a header line (JSON) and a body. The
header carries everything a summary needs: the writer and its sequence number,
the :class:`PredictionIndex` of the predictions in the body, the drift counts
per hour they added, and the metrics and alert records logged with them. The
body is those predictions' JSON Lines, exactly as ``predictions_log.jsonl``
holds them. Headers and body carry SHA-256 checksums, so a damaged segment is
refused by name, never half counted.

Every count in a header is additive (integer vectors, totals, running
statistics), so the logs of any number of writers are the sum of their
segments, and ``status`` reads headers only: its cost grows with the number
of segments, not of rows. A compacted segment lists the segments it
``replaces``; readers skip those, so a compaction that stopped before deleting
them counts nothing twice.

The functions here take an fsspec filesystem and a folder, so a segment store
is a local folder, a shared file system or object storage alike (one PUT per
segment: object storage never appends).
"""

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from easy_mlops.counts import add_counts
from easy_mlops.files import write_json_atomic, write_whole
from easy_mlops.jsonsafe import now
from easy_mlops.observability.prediction_index import PredictionBatch, PredictionIndex

log = logging.getLogger(__name__)

SEGMENT_FORMAT = "make-mlops-easy log segment"
SEGMENT_VERSION = 1
SUFFIX = ".seg"
HEADER_BLOCK = 1 << 16  # bytes fetched per read while looking for the header's end
TOTAL = "total.json"  # in a store's cache: the sum of its segments, and which ones it covers


class SegmentError(ValueError):
    """A segment that is not whole: bad header, wrong checksum, cut body."""


@dataclass
class SegmentHeader:
    """What a segment adds to a deployment's logs, without its rows."""

    writer: str
    seq: int
    created: str
    index: PredictionIndex = field(default_factory=PredictionIndex)
    drift: dict[str, Any] = field(default_factory=dict)  # hour -> counts (counts.add_counts)
    metrics: list[dict[str, Any]] = field(default_factory=list)  # metrics_history records
    alerts: list[dict[str, Any]] = field(default_factory=list)  # alerts records
    replaces: list[str] = field(default_factory=list)  # segment names a compaction merged into this one
    body_bytes: int = 0
    body_sha256: str = hashlib.sha256(b"").hexdigest()

    @property
    def name(self) -> str:
        """Unique per writer and sequence number: a segment shipped again (a writer that died before
        recording the upload) replaces its first copy with the same rows or more, never adds to it."""
        return f"{self.writer}-{self.seq:08d}{SUFFIX}"

    @property
    def rows(self) -> int:
        return self.index.total

    def is_empty(self) -> bool:
        return not (self.index.total or self.drift or self.metrics or self.alerts)

    def to_json(self) -> dict[str, Any]:
        document = {
            "format": SEGMENT_FORMAT,
            "version": SEGMENT_VERSION,
            "writer": self.writer,
            "seq": self.seq,
            "created": self.created,
            "rows": self.rows,
            "replaces": self.replaces,
            "body_bytes": self.body_bytes,
            "body_sha256": self.body_sha256,
            "index": self.index.to_json(),
            "drift": self.drift,
            "metrics": self.metrics,
            "alerts": self.alerts,
        }
        return {**document, "header_sha256": _digest(document)}

    @classmethod
    def from_json(cls, document: Any, where: str, checked: bool = True) -> "SegmentHeader":
        """A header from its JSON; ``checked=False`` trusts it without its checksum (this machine's
        cache of a header that was checked when fetched)."""
        if not isinstance(document, dict) or document.get("format") != SEGMENT_FORMAT:
            raise SegmentError(f"{where}: not a log segment")
        if document.get("version") != SEGMENT_VERSION:
            raise SegmentError(
                f"{where}: log segment version {document.get('version')!r} is not one this "
                f"version reads ({SEGMENT_VERSION}); upgrade make-mlops-easy"
            )
        stored = document.pop("header_sha256", None)
        if checked and stored != _digest(document):
            raise SegmentError(f"{where}: header checksum mismatch (damaged segment)")
        index = PredictionIndex.from_json(document["index"])
        if index is None:
            raise SegmentError(f"{where}: unreadable predictions index")
        return cls(
            writer=str(document["writer"]),
            seq=int(document["seq"]),
            created=str(document["created"]),
            index=index,
            drift=dict(document["drift"]),
            metrics=list(document["metrics"]),
            alerts=list(document["alerts"]),
            replaces=list(document["replaces"]),
            body_bytes=int(document["body_bytes"]),
            body_sha256=str(document["body_sha256"]),
        )


def _digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


def encode(header: SegmentHeader, body: bytes) -> bytes:
    """The segment file: the header line, then the body (checksummed in the header)."""
    header.body_bytes, header.body_sha256 = len(body), hashlib.sha256(body).hexdigest()
    return json.dumps(header.to_json(), default=str).encode() + b"\n" + body


def encode_file(header: SegmentHeader, body: Path, target: Path) -> None:
    """:func:`encode` for a body in a file, into the file ``target``: the rows never sit in memory."""
    digest, size = hashlib.sha256(), 0
    with open(body, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    header.body_bytes, header.body_sha256 = size, digest.hexdigest()
    with open(target, "wb") as out, open(body, "rb") as handle:
        out.write(json.dumps(header.to_json(), default=str).encode() + b"\n")
        shutil.copyfileobj(handle, out, 1 << 20)


def read_header(fs: Any, path: str) -> tuple[SegmentHeader, int]:
    """A segment's header and where its body starts, reading only the header's bytes."""
    head = b""
    with fs.open(path, "rb", block_size=HEADER_BLOCK) as handle:
        while b"\n" not in head:
            block = handle.read(HEADER_BLOCK)
            if not block:
                raise SegmentError(f"{path}: cut before the end of its header")
            head += block
    line = head[: head.index(b"\n")]
    try:
        document = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SegmentError(f"{path}: header is not JSON ({exc})") from exc
    return SegmentHeader.from_json(document, path), len(line) + 1


def read_body(fs: Any, path: str) -> tuple[SegmentHeader, bytes]:
    """A segment's header and its body, the body checked against the header's checksum."""
    data = fs.cat_file(path)
    cut = data.find(b"\n")
    if cut < 0:
        raise SegmentError(f"{path}: cut before the end of its header")
    try:
        header = SegmentHeader.from_json(json.loads(data[:cut]), path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SegmentError(f"{path}: header is not JSON ({exc})") from exc
    body = data[cut + 1 :]
    if len(body) != header.body_bytes or hashlib.sha256(body).hexdigest() != header.body_sha256:
        raise SegmentError(f"{path}: body checksum mismatch (damaged or cut segment)")
    return header, body


@dataclass
class SegmentStore:
    """The segments of one deployment, in a folder of an fsspec filesystem.

    Headers are immutable once a segment has its final size, so they are kept
    in ``cache`` (a local folder) keyed by name and size: a second ``status``
    fetches only the segments shipped since.
    """

    fs: Any
    root: str
    cache: Path | None = None

    def path(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}"

    def put(self, header: SegmentHeader, body: bytes | Path) -> str:
        """Write a segment whole (see :func:`easy_mlops.files.write_whole`), its body given as bytes
        or as a file; returns its path."""
        target = self.path(header.name)
        if isinstance(body, bytes):
            write_whole(self.fs, target, encode(header, body))
            return target
        with tempfile.TemporaryDirectory(prefix="easy-mlops-segment-") as scratch:
            whole = Path(scratch) / header.name
            encode_file(header, body, whole)
            write_whole(self.fs, target, whole)
        return target

    def listing(self) -> dict[str, int]:
        """Every segment's name and size."""
        try:
            entries = self.fs.ls(self.root, detail=True, refresh=True)
        except FileNotFoundError:
            return {}
        sizes = {}
        for entry in entries:
            name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            if name.endswith(SUFFIX) and not name.startswith(".") and entry.get("type") != "directory":
                sizes[name] = int(entry.get("size") or 0)
        return sizes

    def headers(self) -> list[SegmentHeader]:
        """The headers that count, oldest writer sequence first: damaged segments are left out with a
        warning naming them, and segments a compaction replaced are left out silently."""
        return counted(self._read(self.listing()))

    def total(self) -> SegmentHeader:
        """The sum of the headers that count (see :meth:`headers` and :func:`merged`).

        With a cache, the sum is kept with the segments it covers, so the next
        call reads only the segments stored since and adds them (sums do not
        depend on their order); it sums afresh when a segment it covered went
        away or a compaction arrived.
        """
        listing = self.listing()
        kept = self._kept_total(listing)
        if kept is not None:
            total, covered = kept
            new = self._read({name: size for name, size in listing.items() if name not in covered})
            if not any(header.replaces for _, header in new):
                total = merged([total, *(header for _, header in new)])
                self._keep_total(total, {**covered, **{name: listing[name] for name, _ in new}})
                return total
        found = self._read(listing)
        headers = counted(found)
        total = merged(headers)
        self._keep_total(total, {name: listing[name] for name, header in found if header in headers})
        return total

    def _read(self, listing: dict[str, int]) -> list[tuple[str, SegmentHeader]]:
        found = []
        for name, size in sorted(listing.items()):
            try:
                found.append((name, self._header(name, size)))
            except (SegmentError, OSError) as exc:
                log.warning("log segment left out: %s", exc)
        return found

    def _kept_total(self, listing: dict[str, int]) -> tuple[SegmentHeader, dict[str, int]] | None:
        """The kept sum and the segments it covers, when every one of them is still there, unchanged."""
        if self.cache is None or not (self.cache / TOTAL).is_file():
            return None
        try:
            kept = json.loads((self.cache / TOTAL).read_text(encoding="utf-8"))
            covered = {str(name): int(size) for name, size in kept["covered"].items()}
            if any(listing.get(name) != size for name, size in covered.items()):
                return None
            return SegmentHeader.from_json(kept["header"], str(self.cache / TOTAL), checked=False), covered
        except (OSError, ValueError, KeyError, TypeError, AttributeError, SegmentError):
            return None

    def _keep_total(self, total: SegmentHeader, covered: dict[str, int]) -> None:
        if self.cache is not None:
            self.cache.mkdir(parents=True, exist_ok=True)
            write_json_atomic(
                self.cache / TOTAL, {"covered": covered, "header": total.to_json()}, indent=None
            )

    def _header(self, name: str, size: int) -> SegmentHeader:
        cached = self.cache / f"{name}.{size}.json" if self.cache is not None else None
        if cached is not None and cached.is_file():
            try:
                document = json.loads(cached.read_text(encoding="utf-8"))
                return SegmentHeader.from_json(document, name, checked=False)
            except (SegmentError, ValueError, KeyError, TypeError):
                cached.unlink(missing_ok=True)
        header, _ = read_header(self.fs, self.path(name))
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(cached, header.to_json(), indent=None)
        return header

    def delete(self, names: Iterable[str]) -> None:
        paths = [self.path(name) for name in names]
        if paths:
            self.fs.rm(paths)


class SegmentBuilder:
    """One segment gathered a chunk of predictions at a time: the lines go to a scratch file, the
    index and drift counts stay in memory, which is bounded whatever the number of rows.

    What a batch task or a streamed ``predict`` logs: stored (:meth:`store`) only once the
    predictions it logs were delivered, so a run that fails logs nothing. Use it as a context
    manager; the scratch file goes with it.
    """

    def __init__(
        self, writer: str, seq: int, profile: dict[str, Any] | None, predictions: bool = True
    ) -> None:
        self.header = SegmentHeader(writer=writer, seq=seq, created=now())
        self.profile = profile  # the training profile drift is counted against; None: no drift counts
        self.predictions = predictions  # False: no lines and no index (the predictions logger is off)
        self.rows = 0
        self.scratch = Path(tempfile.mkdtemp(prefix="easy-mlops-segment-"))
        self.body = open(self.scratch / "body", "wb")  # noqa: SIM115 - closed by store() or close()

    def add(self, predictions: Any, model_version: str, metadata: dict | None, frame: Any) -> None:
        """Log one chunk: its predictions' lines (numbered on from the chunks before) and counts."""
        from easy_mlops.profiles import live_counts  # pandas: the caller scored a table

        if not self.predictions and self.profile is None:
            return  # nothing to log (predict --no-log, or both steps off)
        batch = PredictionBatch(predictions, model_version, metadata, first_row=self.rows)
        self.rows += len(batch.values)
        if self.predictions:
            for piece in batch.chunks():
                self.body.write(piece.encode("utf-8"))
            batch.add_to(self.header.index)
        if self.profile is not None:
            hour = batch.timestamp[:13]
            counts = live_counts(self.profile, frame, predictions)
            self.header.drift[hour] = add_counts(self.header.drift.get(hour, {}), counts)

    def store(self, store: "SegmentStore", keep_empty: bool = False) -> str | None:
        """Put the segment in ``store``; returns its path (None: nothing was logged, nothing stored).

        ``keep_empty`` stores it with nothing logged too, so that it replaces
        one of its name stored before (a batch partition scored again, now empty).
        """
        self.body.close()
        if self.header.is_empty() and not keep_empty:
            return None
        return store.put(self.header, self.scratch / "body")

    def close(self) -> None:
        self.body.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self) -> "SegmentBuilder":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def counted(found: list[tuple[str, SegmentHeader]]) -> list[SegmentHeader]:
    """The segments to sum: those no present compaction replaced.

    Two compactions over overlapping segments (run at once, against the
    advice) would count rows twice; the one that replaced more wins and the
    other is left out with a warning.
    """
    compactions = sorted(
        ((name, header) for name, header in found if header.replaces), key=lambda item: -len(item[1].replaces)
    )
    replaced: set[str] = set()
    ignored: set[str] = set()
    for name, header in compactions:
        if name in replaced:
            continue
        if replaced & set(header.replaces):
            log.warning("log segment %s overlaps another compaction; left out", name)
            ignored.add(name)
            continue
        replaced.update(header.replaces)
    return [header for name, header in found if name not in replaced | ignored]


def merged(headers: Iterable[SegmentHeader]) -> SegmentHeader:
    """The sum of segments, as one header (no body): what every writer logged."""
    total = SegmentHeader(writer="merged", seq=0, created="")
    for header in headers:
        total.index.merge(header.index)
        for hour, counts in header.drift.items():
            total.drift[hour] = add_counts(total.drift.get(hour, {}), counts)
        total.metrics.extend(header.metrics)
        total.alerts.extend(header.alerts)
    total.metrics.sort(key=_timestamp)
    total.alerts.sort(key=_timestamp)
    return total


def _timestamp(record: dict[str, Any]) -> str:
    return str(record.get("timestamp", ""))
