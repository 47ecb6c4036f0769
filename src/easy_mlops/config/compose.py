"""Compose the experiment config outside a Hydra app (CLI, Python API, tests).

The result is the same as ``python -m easy_mlops.run`` composes: the primary
config in ``conf/``, presets chosen with ``group=name``, values changed with
``key=value``. A guide-format file or mapping sits between the presets and the
value overrides, so ``-c file.yaml deployment.version=3`` means the command
line wins. A composition is kept (:mod:`easy_mlops.config.compose_cache`), so a
command repeated with the same config does not compose it again.
"""

import copy
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from easy_mlops.config import compose_cache
from easy_mlops.config.config import check_values, register_configs
from easy_mlops.config.guide_format import read_config_file, to_hydra
from easy_mlops.config.hydra_versions import initialize_options
from easy_mlops.config.instantiate import as_container, first_line
from easy_mlops.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parents[1]

# Hydra plugins that come with an extra: named in the error when they are missing.
PLUGIN_EXTRAS = {
    "hydra/launcher/joblib": "launchers",
    "hydra/launcher/submitit": "launchers",
    "hydra/launcher/slurm": "launchers",
    "hydra/launcher/ray": "ray",
    "hydra/sweeper/optuna": "optuna",
}


def config_dir() -> Path:
    """``conf/`` shipped inside the wheel, or the checkout's top-level ``conf/``."""
    packaged = PACKAGE_DIR / "conf"
    return packaged if packaged.is_dir() else PACKAGE_DIR.parents[1] / "conf"


@contextmanager
def _hydra() -> Iterator[None]:
    """A Hydra context on ``conf/``; a Hydra app already running gets its own context back.

    ``initialize_config_dir`` refuses to start while an app (``@hydra.main``,
    another ``initialize``) holds Hydra's global state, and ends by restoring
    what it found. So the app's state object is set aside untouched, an idle
    copy of it stands in for this composition, and the app's is put back.
    """
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    running = GlobalHydra.instance()
    if running.is_initialized():
        idle = copy.copy(running)
        idle.clear()
        GlobalHydra.set_instance(idle)
    try:
        with initialize_config_dir(str(config_dir()), job_name="easy_mlops", **initialize_options()):
            yield
    finally:
        GlobalHydra.set_instance(running)


def describe_config_error(exc: BaseException, overrides: Sequence[str] = ()) -> str:
    """One line out of Hydra's and OmegaConf's composition errors, read from their types.

    ``overrides`` are the run's; a misspelt key is answered with the closest
    key of the config they compose, not with Hydra's hint to add the typo.
    """
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException

    if isinstance(exc, OverrideParseException):
        reason = first_line(exc)
        reason = "" if reason.startswith("Error parsing override") else f" ({reason})"
        return (
            f"cannot parse the override '{exc.override}'{reason}; quote a value that holds brackets, "
            """commas, quotes or spaces: 'key="value"'"""
        )
    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file:
        missing = exc.missing_cfg_file
        extra = next((extra for name, extra in PLUGIN_EXTRAS.items() if missing.startswith(name)), None)
        if extra:
            return f"Could not find '{missing}': pip install 'make-mlops-easy[{extra}]'"
        options = [option for option in exc.options or [] if not option.startswith("base_")]
        return f"Could not find '{missing}'; available: {', '.join(options)}"
    message = first_line(exc)
    cause = exc.__cause__ or exc.__context__
    if not isinstance(cause, OmegaConfBaseException):
        return message
    key = getattr(cause, "full_key", None)
    message = f"{message} {first_line(cause)}" + (f" (key: {key})" if key and key not in message else "")
    unknown_key = isinstance(cause, (ConfigKeyError, ConfigAttributeError))
    if isinstance(exc, ConfigCompositionException) and unknown_key and key:
        suggestion = closest_key(key, overrides)
        if suggestion:
            return f"{message}; did you mean '{suggestion}'?"
        typed = next((o for o in overrides if o.split("=", 1)[0].startswith(key)), None)
        if typed:
            return f"{message}; to add it as a new key use +{typed}"
    return message


def closest_key(key: str, overrides: Sequence[str] = ()) -> str | None:
    """The existing config key that ``key`` most likely meant, or None.

    The same leaf under another node wins (``trainer.n_estimators`` ->
    ``trainer.model.n_estimators``); otherwise the closest spelling among the
    key's siblings.
    """
    import difflib

    from hydra import compose
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    choices = [o for o in overrides if "=" in o and "." not in o.split("=", 1)[0]]
    try:
        with _hydra():
            try:
                cfg = compose("config", overrides=choices)
            except (HydraException, OmegaConfBaseException):
                cfg = compose("config")
    except (HydraException, OmegaConfBaseException):
        return None
    keys = _key_paths(OmegaConf.to_container(cfg, resolve=False))
    parent, _, leaf = key.rpartition(".")
    same_leaf = [k for k in keys if k.rpartition(".")[2] == leaf and k != key]
    if same_leaf:
        return same_leaf[0]
    siblings = [k.rpartition(".")[2] for k in keys if k.rpartition(".")[0] == parent]
    close = difflib.get_close_matches(leaf, siblings, n=1, cutoff=0.75)
    return f"{parent}.{close[0]}".lstrip(".") if close else None


def _key_paths(node: Any, prefix: str = "") -> list[str]:
    """Every key of a plain container as a dotted path, nodes and leaves alike."""
    if not isinstance(node, dict):
        return []
    paths = []
    for key, value in node.items():
        path = f"{prefix}{key}"
        paths += [path, *_key_paths(value, f"{path}.")]
    return paths


def compose_config(
    overrides: Sequence[str] = (),
    config_file: str | Path | None = None,
    config: Mapping[str, Any] | DictConfig | Any | None = None,
    step_names: Mapping[str, Iterable[str]] | None = None,
) -> DictConfig:
    """The composed experiment config; every problem is a one-line :class:`ConfigError`.

    A guide-format ``config_file`` (then ``config``) is one more config in the
    defaults list, after every preset: Hydra composes it once with the rest,
    and the value overrides, applied last, win over it. ``step_names`` (the
    registered step names per section) lets an unknown step in a file be
    named with the file.
    """
    overrides = list(overrides)
    given: dict[str, Any] = {}
    if config_file is not None:
        given = to_hydra(read_config_file(config_file), str(config_file), step_names)
    if config is not None:
        given = _deep_merge(given, to_hydra(as_container(config, resolve=False), "config", step_names))
    key = compose_cache.composition_key(overrides, given, config_dir())
    cfg = compose_cache.load(key) if key else None
    if cfg is None:
        cfg = _compose(overrides, given)
        if key:
            compose_cache.store(key, cfg)
    check_values(cfg)
    return cfg


def _compose(overrides: list[str], given: dict[str, Any]) -> DictConfig:
    """Hydra's composition of ``conf/`` with ``given`` and ``overrides``; its errors as one line."""
    from hydra import compose
    from hydra.errors import HydraException

    try:
        with _hydra():
            if not given:
                return compose("config", overrides=overrides)
            return compose("config", overrides=[*overrides, _given_config(given)])
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(describe_config_error(exc, overrides)) from exc


GIVEN_GROUP = "easy_mlops_given"


def _given_config(given: dict[str, Any]) -> str:
    """``given`` as a config of its own in Hydra's ConfigStore; returns the override that selects it.

    A config in the defaults list, not a merge after composing: the value
    overrides are applied after it, so the command line wins over the file.
    The ConfigStore has no public way to remove a config, and replacing one
    warns from Hydra 1.4 on, so each config is stored once, under a name
    hashed from its ``repr`` (which tells ``1`` from ``1.0`` and ``"1"``):
    composing the same file again selects the config stored the first time.
    """
    from hydra.core.config_store import ConfigStore
    from hydra.core.object_type import ObjectType

    store = ConfigStore.instance()
    name = f"given_{hashlib.sha256(repr(given).encode()).hexdigest()[:32]}"
    if store.get_type(f"{GIVEN_GROUP}/{name}.yaml") is ObjectType.NOT_FOUND:
        store.store(group=GIVEN_GROUP, name=name, node=given, package="_global_")
    return f"+{GIVEN_GROUP}={name}"


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
