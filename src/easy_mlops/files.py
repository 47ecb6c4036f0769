"""Small file helpers: atomic replacement, checksums and this machine's cache directory."""

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

CACHE_ENV = "EASY_MLOPS_CACHE"
MARKER_HEAD_BYTES = 4096  # a marker is the first key written


def cache_dir(name: str) -> Path:
    """``name`` in this machine's cache: ``$EASY_MLOPS_CACHE`` or ``~/.cache/make-mlops-easy``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "make-mlops-easy") / name


def write_text_atomic(path: Path, text: str | Iterable[str]) -> None:
    """:func:`write_bytes_atomic` for text (or text in pieces), as UTF-8."""
    if isinstance(text, str):
        write_bytes_atomic(path, text.encode("utf-8"))
    else:
        write_bytes_atomic(path, (piece.encode("utf-8") for piece in text))


def write_bytes_atomic(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Replace ``path`` with ``data`` (or its pieces, written as they come) via a synced
    temporary file and a rename.

    Readers see the old content or the new one, never a half-written file.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(temporary, "wb") as handle:
            for piece in [data] if isinstance(data, bytes) else data:
                handle.write(piece)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_whole(fs: Any, path: str, data: bytes | Path) -> None:
    """Write ``data`` (bytes, or a local file's) to ``path`` of an fsspec filesystem so that readers
    never see part of it: a temporary name then a rename on a file system, one PUT on object storage
    (a single or multipart upload, which appears only once complete)."""
    folder = path.rsplit("/", 1)[0]
    fs.makedirs(folder, exist_ok=True)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    local = protocol in ("file", "local")
    target = f"{folder}/.{path.rsplit('/', 1)[-1]}.partial{os.getpid()}" if local else path
    if isinstance(data, bytes):
        fs.pipe_file(target, data)
    else:
        fs.put_file(str(data), target)
    if local:
        fs.mv(target, path)


def write_json_atomic(path: Path, data: Any, indent: int | None = 2) -> None:
    """``data`` as JSON, replaced atomically; ``indent=None`` for machine files (C-speed encoding)."""
    write_text_atomic(path, json.dumps(data, indent=indent, default=str) + "\n")


def file_fingerprint(path: str | Path) -> dict[str, Any]:
    """Size and SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return {"size": Path(path).stat().st_size, "sha256": digest.hexdigest()}


def find_marked_json(
    names: Iterable[str], read_head: Callable[[str], bytes], marker: str, usual: str
) -> str | None:
    """Which of a folder's file ``names`` is the JSON file carrying ``marker`` (its first key):
    ``usual`` first, then any other JSON file whose first bytes (``read_head(name)``) hold it."""
    names = set(names)
    candidates = [usual] * (usual in names) + sorted(n for n in names if n.endswith(".json") and n != usual)
    for name in candidates:
        try:
            if marker.encode() in read_head(name):
                return name
        except OSError:
            continue
    return None


def find_marked_file(directory: Path, marker: str, usual: str) -> Path | None:
    """:func:`find_marked_json` among the JSON files of a local ``directory``."""
    if not directory.is_dir():
        return None

    def head(name: str) -> bytes:
        with (directory / name).open("rb") as handle:
            return handle.read(MARKER_HEAD_BYTES)

    names = [path.name for path in directory.glob("*.json") if path.is_file()]
    name = find_marked_json(names, head, marker, usual)
    return directory / name if name else None
