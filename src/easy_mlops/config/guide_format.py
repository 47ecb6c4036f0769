"""Apply configuration written in the guide's YAML format to a composed config.

The guide's files (``-c config.yaml``, ``MLOpsPipeline(config={...})``,
``ModelDeployer({...})``) use flat keys and ``steps:`` lists of names or
``{type, params}`` entries. Lists become the name-keyed ``_target_`` mappings
of the Hydra config; a given ``steps`` replaces the default sequence, as the
guide promises. Unknown keys are errors naming the key and the source.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from easy_mlops.config.instantiate import first_line
from easy_mlops.config.registry import StepRegistry
from easy_mlops.errors import ConfigError


def registries() -> dict[str, StepRegistry]:
    """The step registries by config section (imported late: they live with their stage)."""
    from easy_mlops.deployment.deployer import ModelDeployer
    from easy_mlops.observability.monitor import ModelMonitor

    return {"deployment": ModelDeployer.STEP_REGISTRY, "observability": ModelMonitor.STEP_REGISTRY}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from ``path``, or one line saying what is wrong with it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of sections, got {type(data).__name__}")
    return data


def steps_mapping(
    steps: Any, key: str, registry: StepRegistry, section: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The guide's ``steps`` list (names or ``{type, params}``) as a name-keyed mapping.

    A mapping param whose default reads a flat key of ``section`` (such as
    ``metric_thresholds``) is merged over that key's value rather than
    replacing it, so per-step params refine the section's settings.
    """
    if isinstance(steps, (Mapping, DictConfig)):
        return {str(name): node for name, node in steps.items()}
    if not isinstance(steps, (list, tuple)):
        raise ConfigError(f"config key '{key}' must be a list of steps or a mapping, got {steps!r}")
    mapping: dict[str, Any] = {}
    for index, entry in enumerate(steps):
        if isinstance(entry, str):
            name, params = entry, {}
        elif isinstance(entry, Mapping) and "type" in entry:
            unknown = set(entry) - {"type", "params"}
            if unknown:
                raise ConfigError(
                    f"config key '{key}[{index}]': unknown key(s) {', '.join(sorted(unknown))}; "
                    "use type and params"
                )
            name, params = entry["type"], dict(entry.get("params") or {})
        else:
            raise ConfigError(
                f"config key '{key}[{index}]': a step is a name or a mapping with 'type', got {entry!r}"
            )
        try:
            node = registry.node(name)
        except ConfigError as exc:
            raise ConfigError(f"config key '{key}[{index}]': {exc}") from exc
        for param, value in params.items():
            flat_key = _flat_key_read_by(node.get(param))
            if (
                isinstance(value, Mapping)
                and section is not None
                and isinstance(section.get(flat_key), Mapping)
            ):
                params[param] = {**section[flat_key], **value}
        mapping[name] = {**node, **params}
    return mapping


def _flat_key_read_by(default: Any) -> str | None:
    """``metric_thresholds`` for a default of ``${...metric_thresholds}``."""
    if isinstance(default, str) and default.startswith("${...") and default.endswith("}"):
        return default[len("${...") : -1]
    return None


def merge_section(section: DictConfig, given: Mapping[str, Any], key: str, source: str) -> DictConfig:
    """``section`` updated with ``given``; a given ``steps`` replaces the default sequence."""
    given = dict(given)
    registry = registries().get(key)
    steps = given.pop("steps") if "steps" in given and registry is not None else None
    try:
        merged = OmegaConf.merge(section, given)
    except OmegaConfBaseException as exc:
        inner = getattr(exc, "full_key", None) or ""
        full_key = inner if inner.startswith(f"{key}.") else f"{key}.{inner}".rstrip(".")
        raise ConfigError(f"{source}: config key '{full_key}': {first_line(exc)}") from exc
    if steps is not None:
        flat = OmegaConf.to_container(merged, resolve=False)
        try:
            merged.steps = steps_mapping(steps, f"{key}.steps", registry, flat)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from exc
    return merged


def section_config(schema: type, config: Any, key: str) -> DictConfig:
    """One config section validated against ``schema``, defaults filled in.

    ``config`` may be None, a plain dict in the guide's format, a DictConfig or
    an instance of ``schema``; this is how ``ModelDeployer({...})`` and
    ``ModelMonitor({...})`` read their argument.
    """
    from easy_mlops.config.config import schema_node

    if isinstance(config, schema):
        return OmegaConf.structured(config)
    base = schema_node(schema)
    if config is None:
        return base
    if isinstance(config, DictConfig):
        try:  # resolved while still attached: ``${team_id}`` may point outside the section
            config = OmegaConf.to_container(config, resolve=True)
        except OmegaConfBaseException as exc:
            where = getattr(exc, "full_key", None) or key
            raise ConfigError(f"config key '{where}': {first_line(exc)}") from exc
    if not isinstance(config, Mapping):
        raise ConfigError(f"{key} config must be a mapping, got {type(config).__name__}")
    return merge_section(base, config, key, f"{key} config")


def apply_guide_config(cfg: DictConfig, given: Mapping[str, Any], source: str) -> DictConfig:
    """Apply a whole guide-format config (sections keyed like the primary config)."""
    cfg = cfg.copy()
    for key, value in given.items():
        if key not in cfg:
            raise ConfigError(
                f"{source}: unknown config section '{key}'; sections are {', '.join(map(str, cfg))}"
            )
        if isinstance(cfg[key], DictConfig):
            if value is None:
                continue
            if not isinstance(value, (Mapping, DictConfig)):
                raise ConfigError(f"{source}: config key '{key}' must be a mapping, got {value!r}")
            cfg[key] = merge_section(cfg[key], value, key, source)
        else:
            try:
                cfg[key] = value
            except OmegaConfBaseException as exc:
                raise ConfigError(f"{source}: config key '{key}': {first_line(exc)}") from exc
    return cfg


def default_guide_yaml() -> str:
    """The defaults as a guide-format YAML file (what ``make-mlops-easy init`` writes)."""
    from easy_mlops.config.config import DeploymentConfig, ObservabilityConfig, TrainerConfig

    def flat(schema: type, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
        values = OmegaConf.to_container(OmegaConf.structured(schema))
        return {k: v for k, v in values.items() if k != "steps" and (keys is None or k in keys)}

    document = {
        "trainer": flat(TrainerConfig, ("test_size", "random_state", "cv_folds")),
        "deployment": {k: v for k, v in flat(DeploymentConfig).items() if k != "s3"},
        "observability": flat(ObservabilityConfig),
    }
    header = (
        "# Make MLOps Easy configuration (the guide's format).\n"
        "# Use it with: make-mlops-easy train DATA -c THIS_FILE [OVERRIDE ...]\n"
        "# Add `steps:` lists under deployment or observability for full control.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False)
