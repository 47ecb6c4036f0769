"""A deployment's config snapshot (``config.yaml``) read back as config.

The snapshot is resolved except for secrets, which keep their interpolation
(``${oc.env:AWS_SECRET_ACCESS_KEY}``): reading a section of it resolves them
now, from this environment, against the whole snapshot (an interpolation may
point outside its section). The deployment's files are read as plain data by
:func:`easy_mlops.deployment.metadata.read_snapshot_data`; this module is what
turns that data into config.
"""

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from easy_mlops.config.instantiate import first_line
from easy_mlops.errors import ConfigError


def snapshot_config(data: Mapping[str, Any] | None) -> DictConfig | None:
    """The snapshot's data as a DictConfig (interpolations live), or None for none."""
    return None if data is None else OmegaConf.create(dict(data))


def resolved_section(data: Mapping[str, Any] | None, key: str) -> Any:
    """The snapshot's section ``key`` (dotted) as plain values, interpolations resolved; None if absent."""
    snapshot = snapshot_config(data)
    node = OmegaConf.select(snapshot, key) if snapshot is not None else None
    if not isinstance(node, DictConfig):
        return node
    try:
        return OmegaConf.to_container(node, resolve=True, enum_to_str=True)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"config.yaml: config key '{key}': {first_line(exc)}") from exc
