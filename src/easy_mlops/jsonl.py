"""Append-only JSON Lines logs that survive crashes and concurrent writers.

Appends are made under an exclusive ``flock`` on a lock file beside the log
(:func:`locked`: :func:`append_records` takes it; the lower-level
:func:`append_lines` and :func:`append_lines_at` expect their caller to hold
it, as it usually also reads or updates an index under the same lock) and
write the whole batch with ``O_APPEND``; a half line left by a killed writer
is closed with a newline first, so it can never swallow the next record. Readers stream
the file line by line and skip (with a warning naming file and line) anything
that is not a JSON object.
"""

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock tied to ``path`` (a ``.<name>.lock`` file beside it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(f".{path.name}.lock")
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def append_lines(path: Path, chunks: Iterable[str]) -> int:
    """Append pre-serialised lines (each ending in a newline), chunk by chunk; returns the new size.

    Chunks are encoded and written one at a time, so a large batch never sits
    in memory twice (as text and as bytes). The caller holds :func:`locked`.
    """
    return append_lines_at(path, chunks)[1]


def append_lines_at(path: Path, chunks: Iterable[str]) -> tuple[int, int]:
    """:func:`append_lines`, returning where the lines start and end in the file. The caller holds
    :func:`locked`."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(descriptor).st_size
        if size and _last_byte(path, size) != b"\n":
            size += _write_all(descriptor, b"\n")  # a killed writer's half line stays on its own line
        start = size
        for chunk in chunks:
            size += _write_all(descriptor, chunk.encode("utf-8"))
        os.fsync(descriptor)
        return start, size
    finally:
        os.close(descriptor)


def _write_all(descriptor: int, data: bytes) -> int:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]
    return len(data)


def append_records(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Append JSON records under the lock; returns the new size of the log."""
    lines = "".join(json.dumps(record, default=str) + "\n" for record in records)
    with locked(path):
        return append_lines(path, [lines])


def _last_byte(path: Path, size: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(size - 1)
        return handle.read(1)


def read_lines(
    path: Path, start: int = 0, first_line: int = 1, stop: int | None = None
) -> Iterator[tuple[int, int, dict[str, Any] | None]]:
    """Stream ``(end offset, line number, record or None)`` for each complete line from ``start``
    (to ``stop``, a line boundary, when given).

    A line that is not a JSON object yields ``None`` after a warning naming the
    file and line; ``first_line`` is the number of the line at ``start``. A
    final line without a newline is still being written (or was cut by a
    crash) and is left for a later read.
    """
    if not path.exists():
        return
    with open(path, "rb") as handle:
        handle.seek(start)
        offset, number = start, first_line
        for raw in handle:
            if not raw.endswith(b"\n") or (stop is not None and offset >= stop):
                break
            offset += len(raw)
            record = None
            if raw.strip():
                try:
                    record = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    pass
                if not isinstance(record, dict):
                    log.warning("%s line %d: not a JSON record, skipped", path, number)
                    record = None
            yield offset, number, record
            number += 1


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Every valid record of a log, streamed."""
    for _, _, record in read_lines(path):
        if record is not None:
            yield record


def tail_fingerprint(path: Path, end: int, width: int = 256) -> str:
    """A hash of the bytes just before ``end``: tells whether a prefix of the file changed."""
    with open(path, "rb") as handle:
        handle.seek(max(0, end - width))
        return hashlib.sha256(handle.read(min(end, width))).hexdigest()
