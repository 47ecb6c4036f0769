"""Turn ``_target_`` nodes into objects, refusing targets outside trusted modules.

A config file must not be able to call ``os.system``: every ``_target_`` (at any
depth) is checked against the trusted module prefixes before anything imports it.
:func:`instantiate` is the one way a node becomes an object (an estimator, a
transformer, a tracker, a step); pipelines of steps are mappings keyed by name,
built by :func:`instantiate_steps` for deployment, observability and
preprocessing alike, each stage passing the registry of its step classes (kept
beside them, see :mod:`easy_mlops.config.registry`). Plain nodes (a
deployment's snapshot, read by ``predict`` and ``status``; an estimator) are
built without importing OmegaConf or Hydra.
"""

import importlib
import logging
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from easy_mlops.config.registry import target_path
from easy_mlops.errors import ConfigError, MLOpsError

if TYPE_CHECKING:
    from omegaconf import DictConfig

log = logging.getLogger(__name__)

TRUSTED_MODULES: tuple[str, ...] = ("easy_mlops.", "sklearn.")
# Libraries trusted for their estimator classes only, not for any callable they export.
TRUSTED_ESTIMATORS: frozenset[str] = frozenset(
    f"{module}.{name}"
    for module, names in {
        "xgboost": ("XGBClassifier", "XGBRegressor"),
        "xgboost.sklearn": ("XGBClassifier", "XGBRegressor"),
        "lightgbm": ("LGBMClassifier", "LGBMRegressor"),
        "lightgbm.sklearn": ("LGBMClassifier", "LGBMRegressor"),
    }.items()
    for name in names
)
# The extra that brings a module a preset needs.
EXTRAS = {"xgboost": "boosting", "lightgbm": "boosting"}
HYDRA_KEYS = {"_partial_", "_args_", "_recursive_", "_convert_"}  # what only Hydra's instantiate does


def omegaconf_class(module: str, name: str) -> type | tuple[()]:
    """OmegaConf's class ``module.name`` if OmegaConf is loaded, else ``()``.

    Nothing is an instance of ``()`` and ``except ()`` catches nothing: while
    OmegaConf is not loaded no node can be one of its configs, so plain dicts
    are handled without importing it.
    """
    loaded = sys.modules.get(module)
    return getattr(loaded, name) if loaded is not None else ()


def config_errors() -> type | tuple[()]:
    """What a DictConfig raises when read (a missing value, a dangling interpolation)."""
    return omegaconf_class("omegaconf.errors", "OmegaConfBaseException")


def _targets(node: Any, path: str) -> Iterable[tuple[str, str]]:
    """Yield ``(config key, target)`` for every ``_target_`` below ``node`` (a DictConfig's resolved)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "_target_":
                yield path, str(value)
            else:
                yield from _targets(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, Sequence) and not isinstance(node, str):
        for index, value in enumerate(node):
            yield from _targets(value, f"{path}[{index}]")


def trusted_prefixes(trusted: Iterable[str] = ()) -> tuple[str, ...]:
    """The trusted module prefixes, ours and ``trusted``'s, each ending in ``.``."""
    return TRUSTED_MODULES + tuple(p if p.endswith(".") else p + "." for p in trusted)


def trusted_exact(trusted_targets: Iterable[str] = ()) -> set[str]:
    """The trusted class paths: ``trusted_targets`` and the boosting estimators."""
    return set(trusted_targets) | TRUSTED_ESTIMATORS


def check_targets(
    node: Any, key: str, trusted: Iterable[str] = (), trusted_targets: Iterable[str] = ()
) -> None:
    """Raise :class:`ConfigError` if any ``_target_`` below ``node`` is not trusted.

    ``trusted`` adds module prefixes; ``trusted_targets`` exact class paths
    (the registered steps).
    """
    prefixes, exact = trusted_prefixes(trusted), trusted_exact(trusted_targets)
    try:
        found = list(_targets(node, key))
    except config_errors() as exc:
        raise ConfigError(f"config key '{key}': {first_line(exc)}") from exc
    for path, target in found:
        if target not in exact and not (target + ".").startswith(prefixes):
            raise ConfigError(
                f"config key '{path}._target_': '{target}' is not in a trusted module "
                f"({', '.join(p.rstrip('.') for p in prefixes)}) nor a trusted estimator (xgboost's "
                "and lightgbm's); add its module to trusted_modules to allow it"
            )


def instantiate(
    node: Any, key: str, trusted: Iterable[str] = (), registered: Mapping[str, type] | None = None
) -> Any:
    """The one way a ``_target_`` node becomes an object; any failure is one line naming ``key``.

    1. Every ``_target_`` below ``node`` is checked against the allowlist (our
       and scikit-learn's modules, ``trusted`` prefixes, xgboost's and
       lightgbm's estimators, the ``registered`` classes by their path) before
       anything is imported.
    2. The class is the registered one of that path (a step class defined in a
       function cannot be imported), else the import of the path.
    3. A plain node (values only: an estimator's, a step's) is built by calling
       the class, so a command that has its config need not load Hydra (0.2 s)
       for it. Nested ``_target_`` nodes among its values are built by Hydra's
       ``instantiate`` first; a node with Hydra's own keys (``_partial_``...),
       or whose class a plain import cannot find (a missing extra, a typo),
       goes to Hydra whole, for its behaviour and its error. Lists and dicts
       reach the class as plain ones (Hydra's ``_convert_: all``).
    """
    registered = dict(registered or {})
    node = plain_node(node, key)
    check_targets(node, key, trusted, registered)
    target = str(node["_target_"])
    target_cls = registered.get(target) or (None if HYDRA_KEYS & set(node) else _imported_class(target))
    if target_cls is None:
        return _by_hydra(node, key, trusted, registered)
    arguments = {name: value for name, value in node.items() if name != "_target_"}
    if not is_plain(node):
        arguments = _by_hydra(arguments, key, trusted, registered)
    return build(target_cls, arguments, key)


def resolved(node: Any, key: str) -> Any:
    """A DictConfig as plain values, interpolations resolved (one line naming ``key`` if one cannot
    be); anything else as it is."""
    if isinstance(node, omegaconf_class("omegaconf", "DictConfig")):
        from omegaconf import OmegaConf

        try:
            return OmegaConf.to_container(node, resolve=True, throw_on_missing=True, enum_to_str=True)
        except config_errors() as exc:
            raise ConfigError(f"config key '{key}': {first_line(exc)}") from exc
    return node


def plain_node(node: Any, key: str) -> dict[str, Any]:
    """A ``_target_`` node as a plain dict, or one line saying why it is none."""
    node = resolved(node, key)
    if not isinstance(node, Mapping) or "_target_" not in node:
        raise ConfigError(f"config key '{key}' must be a mapping with _target_, got {node!r}")
    return dict(node)


def _by_hydra(
    node: dict[str, Any], key: str, trusted: Iterable[str], registered: Mapping[str, type]
) -> Any:
    """Hydra's ``instantiate`` of ``node`` (already checked), its errors as one line naming ``key``."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate
    from omegaconf.errors import OmegaConfBaseException

    from easy_mlops.config.hydra_versions import instantiate_options

    whitelist = instantiate_options(trusted_prefixes(trusted), trusted_exact(registered))
    options = {} if "_convert_" in node else {"_convert_": "all"}
    try:
        return hydra_instantiate(node, **options, **whitelist)
    except InstantiationException as exc:
        if isinstance(exc.__cause__, MLOpsError):
            raise ConfigError(str(exc.__cause__)) from exc
        raise ConfigError(f"config key '{key}': {describe_instantiation_error(exc)}") from exc
    except OmegaConfBaseException as exc:
        raise ConfigError(f"config key '{key}': {first_line(exc)}") from exc
    # Hydra 1.4 lets the target's own error through, where 1.3 wraps it (above): the same line.
    except MLOpsError as exc:
        raise ConfigError(str(exc)) from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config key '{key}': {type(exc).__name__}: {first_line(exc)}") from exc


def instantiate_steps(
    steps: "Mapping[str, Any] | DictConfig",
    key: str,
    registry: Mapping[str, type],
    base: type,
    trusted: Iterable[str] = (),
    strict: bool = True,
) -> list[tuple[str, Any]]:
    """Instantiate a name-keyed mapping of steps, in order, through :func:`instantiate`.

    ``null`` entries and entries with ``enabled: false`` are switched off and
    skipped. An entry without ``_target_`` is the step registered under its
    name, with the entry's other keys as arguments. Each result must be a
    ``base``. With ``strict=False`` a step that cannot be built here (a custom
    class this process does not have) is left out with a warning instead.
    """
    built = []
    registered = {target_path(cls): cls for cls in registry.values()}
    kind = key.split(".", 1)[0]
    for name, node in steps.items():
        if node is None:
            continue
        node_key = f"{key}.{name}"
        try:
            step = _step(str(name), node, node_key, registry, registered, kind, trusted)
        except ConfigError as exc:
            if strict:
                raise
            log.warning("%s step '%s' left out: %s", kind, name, exc)
            continue
        if step is None:
            continue
        if not isinstance(step, base):
            raise ConfigError(f"config key '{node_key}': {type(step).__name__} is not a {base.__name__}")
        built.append((str(name), step))
    return built


def _step(
    name: str,
    node: Any,
    node_key: str,
    registry: Mapping[str, type],
    registered: Mapping[str, type],
    kind: str,
    trusted: Iterable[str],
) -> Any:
    """One entry of a step mapping: None when switched off, else the step :func:`instantiate` builds
    (an entry without ``_target_`` names the class registered under its name)."""
    node = resolved(node, node_key)
    if not isinstance(node, Mapping):
        raise ConfigError(f"config key '{node_key}' must be a mapping with _target_, got {node!r}")
    if node.get("enabled", True) is False:
        return None
    if "_target_" not in node:
        if name not in registry:
            if not registry:
                raise ConfigError(f"config key '{node_key}' has no _target_")
            known = ", ".join(sorted(registry))
            raise ConfigError(f"config key '{node_key}': unknown {kind} step '{name}'; known steps: {known}")
        node = {"_target_": target_path(registry[name]), **node}
    return instantiate(node, node_key, trusted, registered)


def _imported_class(target: Any) -> type | None:
    """The class at the dotted path ``target`` (``module.Class``); None if it is not one that a plain
    import finds, for Hydra to locate or to explain (a missing extra, a typo)."""
    module, _, name = str(target).rpartition(".")
    try:
        found = getattr(importlib.import_module(module), name)
    except Exception:  # any failure of an import: Hydra's locate reports it the established way
        return None
    return found if isinstance(found, type) else None


def is_plain(node: Mapping[str, Any]) -> bool:
    """No ``_target_`` or Hydra instantiation key below the top: its class can take it as is, without
    importing Hydra (read-only commands such as ``status`` build every step; ``train`` its estimator)."""
    arguments = {key: value for key, value in node.items() if key != "_target_"}
    return not HYDRA_KEYS & set(arguments) and next(iter(_targets(arguments, "")), None) is None


def build(step_cls: type, arguments: Mapping[str, Any], node_key: str) -> Any:
    """``step_cls(**arguments)``; a bad argument is one line naming the config key."""
    try:
        return step_cls(**arguments)
    except MLOpsError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config key '{node_key}': {type(exc).__name__}: {first_line(exc)}") from exc


def as_container(cfg: Any, resolve: bool = True) -> dict[str, Any]:
    """A plain dict from a dict, DictConfig or config dataclass; unset (``???``) values left out."""
    from omegaconf import DictConfig, OmegaConf

    if cfg is None:
        return {}
    if isinstance(cfg, Mapping) and not isinstance(cfg, DictConfig):
        cfg = OmegaConf.create(dict(cfg))
    elif not isinstance(cfg, DictConfig):
        cfg = OmegaConf.structured(cfg)
    return _without_missing(
        OmegaConf.to_container(cfg, resolve=resolve, throw_on_missing=False, enum_to_str=True)
    )


def _without_missing(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_missing(v) for k, v in value.items() if v != "???"}
    return value


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception message."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def root_cause(exc: BaseException) -> str:
    """``: Kind: message`` of the first failure behind a failed import (a module not found, a
    syntax error in the user's module, an error while it ran), or nothing when there is none."""
    seen, root = exc.__cause__ or exc.__context__, None
    while seen is not None:
        root, seen = seen, seen.__cause__ or seen.__context__
    if root is None:
        return ""
    where = f" ({Path(root.filename).name}, line {root.lineno})" if isinstance(root, SyntaxError) else ""
    message = root.msg if isinstance(root, SyntaxError) else first_line(root)
    return f": {type(root).__name__}: {message}{where}"


def missing_modules(exc: BaseException, target: str) -> list[str]:
    """Top-level modules an import failure was about: the target's own, and any named along the
    chain of causes (Hydra wraps the ImportError of a module that imports a missing library)."""
    names = [target.split(".", 1)[0]]
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ImportError) and seen.name:
            names.append(seen.name.split(".", 1)[0])
        seen = seen.__cause__ or seen.__context__
    return names


def describe_instantiation_error(exc: Exception) -> str:
    """Condense Hydra's multi-line instantiation error to its cause."""
    cause = exc.__cause__
    if isinstance(cause, ImportError) or "Error locating target" in str(exc):
        target = str(exc).split("'")[1] if "'" in str(exc) else "?"
        extra = next((EXTRAS[name] for name in missing_modules(exc, target) if name in EXTRAS), None)
        hint = f": pip install 'make-mlops-easy[{extra}]'" if extra else root_cause(exc)
        return f"cannot import _target_ '{target}'{hint}"
    if cause is not None:
        return f"{type(cause).__name__}: {first_line(cause)}"
    return first_line(exc)
