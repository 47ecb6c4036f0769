"""Keep credentials out of everything a run writes or prints.

A value is secret when its key names one (``secret``, ``password``, ``token``,
``key`` of storage options, ...), when it sits under a ``secrets`` or
``credentials`` node, or when it is read from the environment with
``${oc.env:...}``. Snapshots keep such a value's interpolation, or ``***``
when it was written literally; overrides show ``key=***``.
"""

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from easy_mlops.files import write_text_atomic

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


def secret_override_values(overrides: Iterable[str]) -> list[str]:
    """The literal values given to secret keys on the command line."""
    return [
        original.partition("=")[2]
        for original, masked in zip(overrides, mask_overrides(overrides), strict=True)
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


class RedactSecretsCallback(Callback):
    """Mask secrets given as overrides in the files Hydra writes itself.

    Hydra saves ``.hydra/config.yaml``, ``hydra.yaml`` and ``overrides.yaml``
    (and a sweep's ``multirun.yaml``) with the overrides as typed; this
    rewrites them with ``***`` before the job starts.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Sweeps log each job's overrides ("Launching jobs"): redact every log record.

        Launchers reconfigure logging handlers, so the redaction sits in the
        record factory, which they leave alone.
        """
        values = secret_override_values(list(config.hydra.overrides.task))
        if values:
            import logging

            make_record = logging.getLogRecordFactory()

            def redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = make_record(*args, **kwargs)
                message = record.getMessage()
                for value in values:
                    message = message.replace(value, MASK)
                record.msg, record.args = message, ()
                return record

            logging.setLogRecordFactory(redacted_record)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        values = secret_override_values(list(config.hydra.overrides.task))
        if values and config.hydra.output_subdir is not None:
            hydra_dir = Path(config.hydra.runtime.output_dir) / config.hydra.output_subdir
            redact_files(hydra_dir.glob("*.yaml"), values)
            redact_files([Path(config.hydra.sweep.dir) / "multirun.yaml"], values)
