"""Compose the experiment config outside a Hydra app (CLI, Python API, tests).

The result is the same as ``python -m easy_mlops.run`` composes: the primary
config in ``conf/``, presets chosen with ``group=name``, values changed with
``key=value``. A guide-format file or mapping sits between the presets and the
value overrides, so ``-c file.yaml deployment.version=3`` means the command
line wins. A composition is kept (:mod:`easy_mlops.config.compose_cache`), so a
command repeated with the same config does not compose it again.
"""

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from easy_mlops.config import compose_cache
from easy_mlops.config.config import check_values, register_configs
from easy_mlops.config.guide_format import read_config_file, to_hydra
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
    """A Hydra context on ``conf/``, restoring any Hydra app already running."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    global_hydra = GlobalHydra.instance()
    running = global_hydra.hydra if global_hydra.is_initialized() else None
    global_hydra.clear()
    try:
        with initialize_config_dir(str(config_dir()), version_base="1.3", job_name="easy_mlops"):
            yield
    finally:
        if running is not None:
            GlobalHydra.instance().clear()
            GlobalHydra.instance().initialize(running)


def describe_config_error(exc: BaseException, overrides: Sequence[str] = ()) -> str:
    """One line out of Hydra's and OmegaConf's composition errors, read from their types.

    ``overrides`` are the run's; a misspelt key is answered with the closest
    key of the config they compose, not with Hydra's hint to add the typo.
    """
    from hydra.errors import ConfigCompositionException, MissingConfigException

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
            with _given_config(given) as choice:
                return compose("config", overrides=[*overrides, choice])
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(describe_config_error(exc, overrides)) from exc


GIVEN_GROUP = "easy_mlops_given"


@contextmanager
def _given_config(given: dict[str, Any]) -> Iterator[str]:
    """``given`` stored as a config of its own for the time of one composition; yields its override."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    name = f"given_{uuid.uuid4().hex}"
    store.store(group=GIVEN_GROUP, name=name, node=given, package="_global_")
    try:
        yield f"+{GIVEN_GROUP}={name}"
    finally:
        store.repo.get(GIVEN_GROUP, {}).pop(f"{name}.yaml", None)


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
