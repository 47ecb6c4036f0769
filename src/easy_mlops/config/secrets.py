"""Keep credentials out of everything a run writes or prints.

A value is secret when its key names one (``secret``, ``password``, ``token``,
``key`` of storage options, ...), when it sits under a ``secrets`` or
``credentials`` node, or when it is read from the environment with
``${oc.env:...}``. Snapshots keep such a value's interpolation, or ``***``
when it was written literally; overrides show ``key=***``.
"""

import re
from collections.abc import Iterable
from typing import Any

from omegaconf import DictConfig, OmegaConf

MASK = "***"
SECRET_WORDS = ("secret", "password", "passwd", "token", "credential", "api_key", "apikey", "private_key")
SECRET_KEYS = {"key", "access_key", "access_key_id", "aws_access_key_id", "session_token"}
SECRET_SECTIONS = {"secrets", "credentials"}
ENV_INTERPOLATION = re.compile(r"\$\{oc\.env:")


def is_secret_key(key: str) -> bool:
    lowered = str(key).lower()
    return lowered in SECRET_KEYS or any(word in lowered for word in SECRET_WORDS)


def safe_snapshot(cfg: DictConfig) -> DictConfig:
    """``cfg`` fully resolved, except secrets: their interpolation, or ``***``."""
    raw = OmegaConf.to_container(cfg, resolve=False)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    return OmegaConf.create(_merge_safe(raw, resolved, inside_secret=False))


def _merge_safe(raw: Any, resolved: Any, inside_secret: bool) -> Any:
    if isinstance(raw, dict) and isinstance(resolved, dict):
        return {
            key: _merge_safe(
                raw[key],
                resolved.get(key),
                inside_secret
                or str(key).lower() in SECRET_SECTIONS
                or (is_secret_key(key) and not isinstance(raw[key], dict)),
            )
            for key in raw
        }
    if isinstance(raw, list) and isinstance(resolved, list):
        return [_merge_safe(r, v, inside_secret) for r, v in zip(raw, resolved, strict=False)]
    if isinstance(raw, str) and ENV_INTERPOLATION.search(raw):
        return raw  # read from the environment: keep where it comes from, not what it is
    if isinstance(resolved, (dict, list)):
        return _mask(resolved, inside_secret)  # a node copied in by interpolation
    if inside_secret and resolved is not None:
        return raw if isinstance(raw, str) and raw.startswith("${") else MASK
    return resolved


def _mask(value: Any, inside_secret: bool) -> Any:
    """A resolved value with every secret leaf replaced by ``***``."""
    if isinstance(value, dict):
        return {
            key: _mask(
                item,
                inside_secret
                or str(key).lower() in SECRET_SECTIONS
                or (is_secret_key(key) and not isinstance(item, dict)),
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_mask(item, inside_secret) for item in value]
    return MASK if inside_secret and value is not None else value


def mask_overrides(overrides: Iterable[str]) -> list[str]:
    """Overrides with the values of secret keys replaced by ``***``."""
    masked = []
    for override in overrides:
        key, sep, value = override.partition("=")
        parts = key.lstrip("+~").split(".")
        if sep and (
            any(is_secret_key(part) for part in parts[-1:]) or SECRET_SECTIONS & {p.lower() for p in parts}
        ):
            if not ENV_INTERPOLATION.search(value):
                override = f"{key}={MASK}"
        masked.append(override)
    return masked
