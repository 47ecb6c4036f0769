"""Read configuration written in the guide's YAML format as Hydra config nodes.

The guide's files (``-c config.yaml``, ``MLOpsPipeline(config={...})``,
``ModelDeployer({...})``) use flat keys and ``steps:`` lists of names or
``{type, params}`` entries. :func:`to_hydra` turns them into the name-keyed
``_target_`` mappings of the Hydra config: a listed built-in step becomes its
default node, a custom name an entry its stage resolves through its registry,
and every default step left out of the list becomes ``null`` (switched off),
so a given ``steps`` replaces the default sequence, as the guide promises.
Unknown keys are errors naming the key and the source.
"""

import copy
import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from easy_mlops.config.config import (
    Config,
    DeploymentConfig,
    ObservabilityConfig,
    TrainerConfig,
    default_deployment_steps,
    default_observability_steps,
    schema_node,
    writable,
)
from easy_mlops.config.instantiate import first_line
from easy_mlops.errors import ConfigError, yaml_problem

# The sections that hold a step pipeline, and their default steps.
DEFAULT_STEPS = {"deployment": default_deployment_steps, "observability": default_observability_steps}
# The deployment steps the guide's catalogue names: a guide-format list leaving one out switches it
# off. The others (save_profile, mlflow_model, upload) are ours, switched by their own keys: a list
# written from the guide cannot know them, and drift needs the profile, so they stay as configured.
# An observability list is the monitor's steps, exactly (the guide: "for full control").
GUIDE_STEPS = {
    "deployment": ("create_directory", "save_model", "save_preprocessor", "save_metadata", "endpoint_script"),
}


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
        raise ConfigError(f"{path}: {yaml_problem(exc)}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of sections, got {type(data).__name__}")
    return data


def steps_mapping(steps: Any, key: str, section: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The guide's ``steps`` list (names or ``{type, params}``) as a name-keyed mapping.

    The guide's default steps left out of the list map to ``None``; our own
    deployment steps (not in :data:`GUIDE_STEPS`) follow the listed ones, as configured. A mapping param whose
    default reads a flat key of ``section`` (such as ``metric_thresholds``) is
    merged over that key's value rather than replacing it, so per-step params
    refine the section's settings.
    """
    if isinstance(steps, (Mapping, DictConfig)):
        return {str(name): node for name, node in steps.items()}
    if not isinstance(steps, (list, tuple)):
        raise ConfigError(f"config key '{key}' must be a list of steps or a mapping, got {steps!r}")
    section_name = key.split(".", 1)[0]
    defaults = DEFAULT_STEPS[section_name]()
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
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(f"config key '{key}[{index}]': a step name must be an identifier, got {name!r}")
        node = dict(defaults.get(name, {}))
        for param, value in params.items():
            flat_key = _flat_key_read_by(node.get(param))
            if (
                isinstance(value, Mapping)
                and section is not None
                and isinstance(section.get(flat_key), Mapping)
            ):
                params[param] = {**section[flat_key], **value}
        if "enabled" in node:
            node["enabled"] = True  # listed means run, whatever the flat switch (create_endpoint) says
        mapping[name] = {**node, **params}
    left_out = [name for name in defaults if name not in mapping]
    guide = GUIDE_STEPS.get(section_name, defaults)
    return {
        **mapping,
        **{name: defaults[name] for name in left_out if name not in guide},
        **{name: None for name in left_out if name in guide},
    }


def _flat_key_read_by(default: Any) -> str | None:
    """``metric_thresholds`` for a default of ``${...metric_thresholds}``."""
    if isinstance(default, str) and default.startswith("${...") and default.endswith("}"):
        return default[len("${...") : -1]
    return None


def section_to_hydra(given: Mapping[str, Any], key: str, source: str) -> dict[str, Any]:
    """One guide-format section with its ``steps`` list as a mapping (other keys as given)."""
    section = dict(given)
    if key in DEFAULT_STEPS and "steps" in section:
        flat = {k: v for k, v in section.items() if k != "steps"}
        if isinstance(section["steps"], (list, tuple)):  # the guide's list, whose params may refine flat keys
            schema = schema_node(SECTION_SCHEMAS[key])
            flat = {**OmegaConf.to_container(schema, resolve=False, enum_to_str=True), **flat}
        try:
            section["steps"] = steps_mapping(section["steps"], f"{key}.steps", flat)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from exc
    return section


SECTION_SCHEMAS = {"deployment": DeploymentConfig, "observability": ObservabilityConfig}


def to_hydra(
    given: Mapping[str, Any], source: str, step_names: Mapping[str, Iterable[str]] | None = None
) -> dict[str, Any]:
    """A whole guide-format config as a node to merge over the composed config.

    Checked against the schema first, so a misspelt key, a wrong type or (with
    ``step_names``, the registered names per section) an unknown step is one
    line naming ``source`` and the key.
    """
    schemas = {field.name: field.type for field in dataclasses.fields(Config)}
    converted: dict[str, Any] = {}
    for key, value in given.items():
        if key not in schemas:
            raise ConfigError(f"{source}: unknown config section '{key}'; sections are {', '.join(schemas)}")
        if value is None:
            continue
        schema = schemas[key]
        if not dataclasses.is_dataclass(schema):
            _checked_merge(OmegaConf.structured(Config), {key: value}, "", source)
            converted[key] = value
            continue
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: config key '{key}' must be a mapping, got {value!r}")
        section = section_to_hydra(value, key, source)
        _checked_merge(schema_node(schema), section, key, source)
        known = None if step_names is None else set(step_names.get(key, ()))
        for name, node in (section.get("steps") or {}).items():
            if known is not None and node is not None and "_target_" not in node and name not in known:
                raise ConfigError(
                    f"{source}: config key '{key}.steps': unknown {key} step '{name}'; "
                    f"known steps: {', '.join(sorted(known))}"
                )
        converted[key] = section
    return converted


def _checked_merge(schema: DictConfig, value: Any, key: str, source: str) -> DictConfig:
    """``value`` merged into ``schema``; one line naming the key if it does not fit."""
    try:
        return OmegaConf.merge(schema, value)
    except OmegaConfBaseException as exc:
        inner = getattr(exc, "full_key", None) or ""
        full_key = f"{key}.{inner}".strip(".") if key and not inner.startswith(f"{key}.") else inner
        raise ConfigError(f"{source}: config key '{full_key}': {first_line(exc)}") from exc


def section_config(schema: type, config: Any, key: str) -> DictConfig:
    """One config section validated against ``schema``, defaults filled in.

    ``config`` may be None, a plain dict in the guide's format, a DictConfig or
    an instance of ``schema``; this is how ``ModelDeployer({...})`` and
    ``ModelMonitor({...})`` read their argument.
    """
    if isinstance(config, schema):
        return OmegaConf.structured(config)
    if isinstance(config, DictConfig) and OmegaConf.get_type(config) is schema:
        try:  # composed against the schema already: nothing to check again
            return resolved_copy(config)
        except OmegaConfBaseException:
            pass  # a dangling interpolation: the general path below names its full key
    base = schema_node(schema)
    if config is None:
        return base
    if isinstance(config, DictConfig):
        try:  # resolved while still attached: ``${team_id}`` may point outside the section
            config = OmegaConf.to_container(config, resolve=True, enum_to_str=True)
        except OmegaConfBaseException as exc:
            where = getattr(exc, "full_key", None) or key
            raise ConfigError(f"config key '{where}': {first_line(exc)}") from exc
    if not isinstance(config, Mapping):
        raise ConfigError(f"{key} config must be a mapping, got {type(config).__name__}")
    source = f"{key} config"
    section = section_to_hydra(config, key, source)
    merged = _checked_merge(base, section, key, source)
    if "steps" in section:
        merged.steps = section["steps"]  # a given pipeline replaces the default one, it is not merged into it
    return merged


def typed_section(schema: type, config: Any, key: str) -> Any:
    """:func:`section_config` as an instance of ``schema`` (frozen, interpolations resolved): what
    ``Deployer`` and ``Monitor`` hold, given the typed section itself or the guide's dict."""
    if isinstance(config, schema):
        return config
    node = section_config(schema, config, key)
    try:
        return OmegaConf.to_object(node)
    except OmegaConfBaseException as exc:
        where = getattr(exc, "full_key", None) or key
        raise ConfigError(f"config key '{where}': {first_line(exc)}") from exc


def resolved_copy(node: DictConfig) -> DictConfig:
    """A detached copy of a section of a composed config, its interpolations resolved.

    Resolved in a copy that is still attached (``${team_id}`` may point
    outside the section), then copied once more without a parent:
    ``OmegaConf.create`` keeps the schema's typing, so later assignments are
    still validated. A third of the time of merging into the schema again.
    """
    section = copy.deepcopy(node)  # a deep copy keeps its parent
    OmegaConf.resolve(section)
    detached = OmegaConf.create(section)
    writable(detached)  # created anew from the frozen schema: read-only until told otherwise
    return detached


def default_guide_yaml() -> str:
    """The defaults as a guide-format YAML file (what ``make-mlops-easy init`` writes)."""

    def flat(schema: type, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
        values = OmegaConf.to_container(OmegaConf.structured(schema), enum_to_str=True)
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
