"""Keep credentials out of everything a run writes or prints.

A value is secret when its key names one (``secret``, ``password``, ``token``,
``key`` of storage options, ...), when it sits under a ``secrets`` or
``credentials`` node, when it is read from the environment with
``${oc.env:...}``, or when a secret interpolates it (``key: ${team_id}`` makes
``team_id`` secret too). Snapshots keep such a value's interpolation, or
``***`` when it was written literally; overrides show ``key=***``.
"""

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from easy_mlops.files import write_text_atomic

MASK = "***"
SECRET_WORDS = ("secret", "password", "passwd", "token", "credential", "api_key", "apikey", "private_key")
SECRET_KEYS = {"key", "access_key", "access_key_id", "aws_access_key_id", "session_token"}
SECRET_SECTIONS = {"secrets", "credentials"}
ENV_INTERPOLATION = re.compile(r"\$\{oc\.env:")
# scheme://user:password@host, up to the last @ before the path: an unescaped @ in a password is hidden too
URL_PASSWORD = re.compile(r"(?<=://)([^/@:\s]*):([^/\s]+)@")


def mask_url_password(value: Any) -> Any:
    """``https://user:***@host/...`` for a text holding a URL with a password; anything else as is."""
    return URL_PASSWORD.sub(rf"\1:{MASK}@", value) if isinstance(value, str) else value


NODE_INTERPOLATION = re.compile(r"\$\{(\.*)([\w\-]+(?:\.[\w\-]+)*)\}")  # ${a.b}, ${..a}; not resolvers

KeyPath = tuple[str, ...]


def is_secret_key(key: str) -> bool:
    lowered = str(key).lower()
    return lowered in SECRET_KEYS or any(word in lowered for word in SECRET_WORDS)


def _is_secret_child(key: Any, item: Any, inside_secret: bool) -> bool:
    """A secret node's children are secret; so is a section named one, and a leaf named one."""
    return (
        inside_secret
        or str(key).lower() in SECRET_SECTIONS
        or (is_secret_key(key) and not isinstance(item, dict))
    )


def safe_snapshot(cfg: DictConfig) -> DictConfig:
    """``cfg`` fully resolved, except secrets: their interpolation, or ``***``.

    A value built from a secret by interpolation (``url: db://${secrets.password}@host``)
    keeps its interpolation too, so the secret never appears resolved.
    """
    raw = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    resolved = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    secret, derived = _secret_leaves(raw)
    return OmegaConf.create(_merge_safe(raw, resolved, False, (), secret, derived))


def _leaves(
    node: Any, path: KeyPath = (), inside_secret: bool = False
) -> Iterable[tuple[KeyPath, Any, bool]]:
    """Every leaf of a plain container: its path, value and whether its name makes it secret."""
    if isinstance(node, dict):
        for key, item in node.items():
            yield from _leaves(item, (*path, str(key)), _is_secret_child(key, item, inside_secret))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _leaves(item, (*path, str(index)), inside_secret)
    else:
        yield path, node, inside_secret


def _within(path: KeyPath, node: KeyPath) -> bool:
    """``path`` is ``node`` or lies below it."""
    return path[: len(node)] == node


def _interpolated(path: KeyPath, value: Any) -> list[KeyPath]:
    """The nodes a leaf's value interpolates, as absolute paths (``${a.b}``, ``${..a}``)."""
    if not isinstance(value, str):
        return []
    return [
        (*(path[: len(path) - len(dots)] if dots else ()), *target.split("."))
        for dots, target in NODE_INTERPOLATION.findall(value)
    ]


def _secret_leaves(raw: Any) -> tuple[set[KeyPath], set[KeyPath]]:
    """The leaves holding a secret, and the leaves whose value is built from one.

    A secret's value is secret wherever it comes from, so a leaf that a secret
    interpolates is secret too (``key: ${team_id}`` makes ``team_id`` one).
    """
    leaves = list(_leaves(raw))
    secret = {path for path, _, by_name in leaves if by_name}
    derived: set[KeyPath] = set()

    def overlaps(target: KeyPath, paths: set[KeyPath]) -> bool:
        return any(_within(p, target) or _within(target, p) for p in paths)

    changed = True
    while changed:
        changed = False
        for path, value, _ in leaves:
            for target in _interpolated(path, value):
                if path in secret:
                    sources = {p for p, _, _ in leaves if _within(p, target)} - secret
                    secret |= sources
                    changed |= bool(sources)
                elif path not in derived and overlaps(target, secret | derived):
                    derived.add(path)
                    changed = True
    return secret, derived - secret


def _merge_safe(
    raw: Any, resolved: Any, inside_secret: bool, path: KeyPath, secret: set[KeyPath], derived: set[KeyPath]
) -> Any:
    if isinstance(raw, dict) and isinstance(resolved, dict):
        return {
            key: _merge_safe(
                raw[key],
                resolved.get(key),
                _is_secret_child(key, raw[key], inside_secret),
                (*path, str(key)),
                secret,
                derived,
            )
            for key in raw
        }
    if isinstance(raw, list) and isinstance(resolved, list):
        return [
            _merge_safe(r, v, inside_secret, (*path, str(index)), secret, derived)
            for index, (r, v) in enumerate(zip(raw, resolved, strict=False))
        ]
    if path in derived or (isinstance(raw, str) and ENV_INTERPOLATION.search(raw)):
        return raw  # built from a secret, or read from the environment: keep where it comes from
    if isinstance(resolved, (dict, list)):
        return _mask(resolved, inside_secret)  # a node copied in by interpolation
    if (inside_secret or path in secret) and resolved is not None:
        return raw if isinstance(raw, str) and raw.startswith("${") else MASK
    return mask_url_password(resolved)


def _mask(value: Any, inside_secret: bool) -> Any:
    """A resolved value with every secret leaf replaced by ``***``."""
    if isinstance(value, dict):
        return {key: _mask(item, _is_secret_child(key, item, inside_secret)) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item, inside_secret) for item in value]
    return MASK if inside_secret and value is not None else mask_url_password(value)


def task_overrides(hydra_cfg: DictConfig) -> list[str]:
    """The run's overrides as typed: iterating the node would resolve their ``${...}``."""
    return list(OmegaConf.to_container(hydra_cfg.overrides.task, resolve=False))


def mask_overrides(overrides: Iterable[str], cfg: DictConfig | None = None) -> list[str]:
    """Overrides with the values of secret keys replaced by ``***``.

    Given the composed ``cfg``, an override of a key that a secret interpolates
    (``+team_id=...`` beside ``key: ${team_id}``) is masked too.
    """
    secret = _secret_leaves(OmegaConf.to_container(cfg, resolve=False))[0] if cfg is not None else set()
    masked = []
    for override in overrides:
        key, sep, value = override.partition("=")
        parts = key.lstrip("+~").split(".")
        target = tuple(parts)
        if sep and (
            is_secret_key(parts[-1])
            or SECRET_SECTIONS & {p.lower() for p in parts}
            or any(_within(path, target) for path in secret)
        ):
            if not ENV_INTERPOLATION.search(value):
                override = f"{key}={MASK}"
        masked.append(mask_url_password(override))
    return masked


def secret_override_values(overrides: Iterable[str], cfg: DictConfig | None = None) -> list[str]:
    """The literal values given to secret keys on the command line."""
    return [
        original.partition("=")[2]
        for original, masked in zip(overrides, mask_overrides(overrides, cfg), strict=True)
        if original != masked and original.partition("=")[2]
    ]


def redact_files(paths: Iterable[Path], values: list[str]) -> None:
    """Replace every occurrence of ``values`` in text files with ``***``."""
    for path in paths:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        redacted = text
        for value in values:
            redacted = redacted.replace(value, MASK)
        if redacted != text:
            write_text_atomic(path, redacted)
