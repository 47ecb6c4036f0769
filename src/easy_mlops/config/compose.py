"""Compose the experiment config outside a Hydra app (CLI, Python API, tests).

The result is the same as ``python -m easy_mlops.run`` composes: the primary
config in ``conf/``, presets chosen with ``group=name``, values changed with
``key=value``. A guide-format file or mapping sits between the presets and the
value overrides, so ``-c file.yaml deployment.version=3`` means the command
line wins.
"""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from easy_mlops.config.config import register_configs
from easy_mlops.config.guide_format import apply_guide_config, read_config_file
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
    """One line out of Hydra's and OmegaConf's multi-line composition errors.

    ``overrides`` are the run's; a misspelt key is answered with the closest
    key of the config they compose, not with Hydra's hint to add the typo.
    """
    text = str(exc)
    message = first_line(exc)
    extra = next((extra for name, extra in PLUGIN_EXTRAS.items() if f"'{name}" in message), None)
    if extra:
        return f"{message.removeprefix('In ').rstrip('.')}: pip install 'make-mlops-easy[{extra}]'"
    if "Could not find" in text and "Available options" in text:
        listing = text.split("Available options", 1)[1].split("Config search path")[0].splitlines()[1:]
        options = [o.strip() for o in listing if o.strip() and not o.strip().startswith("base_")]
        return f"{message.split(': ', 1)[-1].rstrip('.')}; available: {', '.join(options)}"
    hint = next((line.strip() for line in text.splitlines() if line.startswith("To append")), None)
    cause = exc.__cause__
    if isinstance(cause, OmegaConfBaseException):
        key = getattr(cause, "full_key", None)
        message = f"{message} {first_line(cause)}" + (f" (key: {key})" if key and key not in message else "")
    if hint:
        misspelt = hint.split("+", 1)[1].split("=", 1)[0]
        suggestion = closest_key(misspelt, overrides)
        if suggestion:
            return f"{message}; did you mean '{suggestion}'?"
        return f"{message}; to add it as a new key use {hint.split('use ', 1)[1]}"
    return message


def closest_key(key: str, overrides: Sequence[str] = ()) -> str | None:
    """The existing config key that ``key`` most likely meant, or None.

    The same leaf under another node wins (``trainer.n_estimators`` ->
    ``trainer.model.n_estimators``); otherwise the closest spelling.
    """
    import difflib

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
    leaf = key.rsplit(".", 1)[-1]
    same_leaf = [k for k in keys if k.rsplit(".", 1)[-1] == leaf and k != key]
    if same_leaf:
        return same_leaf[0]
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.8)
    return close[0] if close else None


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
) -> DictConfig:
    """The composed experiment config; every problem is a one-line :class:`ConfigError`."""
    overrides = list(overrides)
    try:
        with _hydra():
            if config_file is None and config is None:
                return compose("config", overrides=overrides)
            groups, values = _split_overrides(overrides)
            cfg = compose("config", overrides=groups)
            if config_file is not None:
                cfg = apply_guide_config(cfg, read_config_file(config_file), str(config_file))
            if config is not None:
                cfg = apply_guide_config(cfg, as_container(config, resolve=False), "config")
            _apply_value_overrides(values, cfg)
            return cfg
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(describe_config_error(exc, overrides)) from exc


def _split_overrides(overrides: list[str]) -> tuple[list[str], list[str]]:
    """Preset choices (``trainer=mlp``) apart from value overrides (``trainer.test_size=0.3``)."""
    choices = compose("config", overrides=overrides, return_hydra_config=True).hydra.runtime.choices
    parsed = OverridesParser.create().parse_overrides(overrides)
    groups = [o.input_line for o in parsed if o.key_or_group in choices]
    values = [o.input_line for o in parsed if o.key_or_group not in choices]
    return groups, values


def _apply_value_overrides(overrides: list[str], cfg: DictConfig) -> None:
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    parsed = OverridesParser.create().parse_overrides(overrides)
    ConfigLoaderImpl._apply_overrides_to_config(parsed, cfg)
