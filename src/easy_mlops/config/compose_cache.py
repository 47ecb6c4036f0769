"""Composed configs kept for the next command that composes the same one.

Composing costs a command 0.3–0.5 s before any work: Hydra discovers its
plugins (importing each), parses ``conf/`` and merges the schemas.
The result depends only on what the key hashes: the overrides, the guide
file's settings, the content of every file of ``conf/`` and of the schemas'
source, and the installed Hydra, OmegaConf and Hydra plugins (their files'
sizes and modification times, as Python's bytecode cache reads its sources).
Change any of them and the next command composes afresh. The config is kept
unresolved, so ``${oc.env:...}`` still reads the environment of the command
that uses it.

Entries are pickles read back by an unpickler that rebuilds only config
nodes and schema types: a planted file is a cache miss, never code that runs.
"""

import hashlib
import importlib.util
import json
import os
import pickle
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from easy_mlops.files import cache_dir, write_bytes_atomic

FORMAT = 1  # bump when what an entry holds changes
MAX_ENTRIES = 256
SCHEMA_SOURCES = Path(__file__).resolve().parent  # the schemas, the guide format, composition itself
CONFIG_MODULES = {
    "omegaconf.base",
    "omegaconf.dictconfig",
    "omegaconf.listconfig",
    "omegaconf.nodes",
    "easy_mlops.config.config",
}
CONFIG_BUILTINS = ("bool", "bytes", "dict", "float", "frozenset", "int", "list", "set", "str", "tuple")
CONFIG_GLOBALS = {
    *(("builtins", name) for name in CONFIG_BUILTINS),
    ("collections", "defaultdict"),
    *(("typing", name) for name in ("Any", "Dict", "List", "Optional", "Tuple", "Union")),
}


def composition_key(overrides: Sequence[str], given: Mapping[str, Any], config_dir: Path) -> str | None:
    """What a composition depends on, hashed; None when it cannot be told from files.

    Overrides of ``hydra`` itself (``hydra.searchpath``, ``hydra/launcher=...``)
    may bring config from anywhere: those compositions are not kept.
    """
    if "hydra" in given or any(_hydra_override(override) for override in overrides):
        return None
    try:
        given_text = json.dumps(given, sort_keys=True)
    except (TypeError, ValueError):  # a value JSON cannot spell exactly
        return None
    digest = hashlib.sha256(f"{FORMAT}\0{sys.version}\0{json.dumps(list(overrides))}\0{given_text}".encode())
    try:
        for path in _our_sources(config_dir):
            digest.update(f"\0{path}\0".encode() + path.read_bytes())
    except OSError:  # composing will say what is wrong with the file
        return None
    for path in _installed_sources():
        try:
            stat = path.stat()
        except OSError:
            continue
        digest.update(f"\0{path}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def load(key: str) -> Any:
    """The config kept under ``key``, or None (absent, unreadable, or not only config nodes)."""
    from omegaconf import DictConfig

    entry = _entry(key)
    try:
        with open(entry, "rb") as handle:
            cfg = _ConfigUnpickler(handle).load()
    except Exception:  # absent, damaged or planted: composed again, and replaced
        return None
    with suppress(OSError):
        _mark_used(entry)
    return cfg if isinstance(cfg, DictConfig) else None


def store(key: str, cfg: Any) -> None:
    """Keep ``cfg`` under ``key``, dropping the least recently used beyond :data:`MAX_ENTRIES`.

    A cache that cannot be written (read-only home, full disk) only costs the next command a composition.
    """
    entry = _entry(key)
    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_bytes_atomic(entry, pickle.dumps(cfg, protocol=pickle.HIGHEST_PROTOCOL))
        _mark_used(entry)
        entries = sorted(entry.parent.glob("*.pickle"), key=lambda path: path.stat().st_mtime_ns)
        for old in entries[:-MAX_ENTRIES]:
            old.unlink(missing_ok=True)
    except (OSError, pickle.PicklingError):
        pass


class _ConfigUnpickler(pickle.Unpickler):
    """Rebuilds OmegaConf nodes and the schema dataclasses and enums, nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in CONFIG_GLOBALS:
            return super().find_class(module, name)
        if module in CONFIG_MODULES:
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not a config type")


def _mark_used(entry: Path) -> None:
    """Its modification time to the nanosecond: the file system's own clock may tick every few ms."""
    now = time.time_ns()
    os.utime(entry, ns=(now, now))


def _entry(key: str) -> Path:
    return cache_dir("configs") / f"{key}.pickle"


def _hydra_override(override: str) -> bool:
    key = override.lstrip("+~").split("=", 1)[0]
    return key == "hydra" or key.startswith(("hydra.", "hydra/"))


def _our_sources(config_dir: Path) -> list[Path]:
    """``conf/`` and the schemas' package: small files, hashed whole (an edit may keep size and second)."""
    conf = [path for path in Path(config_dir).rglob("*") if path.is_file()]
    return sorted(conf) + sorted(SCHEMA_SOURCES.glob("*.py"))


def _installed_sources() -> Iterator[Path]:
    """Hydra's and OmegaConf's version files and every Hydra plugin module: rewritten by an upgrade."""
    for package in ("hydra", "omegaconf"):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin:
            yield Path(spec.origin)
            yield Path(spec.origin).with_name("version.py")
    plugins = importlib.util.find_spec("hydra_plugins")
    locations = (plugins.submodule_search_locations or []) if plugins is not None else []
    for location in sorted(locations):
        yield from sorted(Path(location).rglob("*.py"))
