"""The composition root: a composed config becomes one typed, frozen experiment, once.

Hydra composes a DictConfig (``python -m easy_mlops.run``, ``make-mlops-easy
train``, the Python API, ``replay``); :func:`build_experiment` checks its ranges,
converts it into the schema dataclasses of :mod:`easy_mlops.config.config`
(frozen: nothing changes the config after this) and prepares what a run writes
about its config (the snapshot, the masked overrides). Nothing the experiment
reaches needs OmegaConf or Hydra.

What depends on the data is not in the config: the problem type ``auto``
becomes is a result of the run. The estimator's ``_target_`` usually
interpolates it (``${trainer.estimators.${trainer.problem_type}}``): when it
does and the type is ``auto``, the typed node's ``_target_`` is None and the
trainer takes ``trainer.estimators[problem type]``; the snapshot is prepared
for each problem type the run may find.
"""

import copy
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import InterpolationKeyError, InterpolationResolutionError, OmegaConfBaseException

from easy_mlops.config.config import Config, ProblemType, check_values
from easy_mlops.config.instantiate import first_line
from easy_mlops.config.secrets import mask_overrides, safe_snapshot
from easy_mlops.errors import ConfigError

PROBLEM_TYPES = (ProblemType.classification.value, ProblemType.regression.value)
CONFIG_FIELDS = {field.name for field in dataclasses.fields(Config)}


@dataclass(frozen=True)
class Experiment:
    """A run's whole config, typed and frozen, with what the run writes about it.

    ``snapshots`` holds ``config.yaml``'s text (resolved, secrets masked) per
    problem type the run may find; ``overrides`` the overrides it was started
    with, secrets masked.
    """

    config: Config
    snapshots: Mapping[str, str] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()

    def snapshot(self, problem_type: str) -> str | None:
        """``config.yaml``'s text for a run that found ``problem_type``."""
        return self.snapshots.get(str(problem_type))


def build_experiment(
    cfg: DictConfig, overrides: Iterable[str] = (), tracked: bool | None = None
) -> Experiment:
    """The typed experiment of a composed ``cfg`` (left unchanged).

    ``tracked`` (default: whether ``tracking._target_`` is set) turns on the
    deployment's MLflow model, which a tracked run logs and registers.
    """
    check_values(cfg)
    try:
        return _build(cfg, overrides, tracked)
    except OmegaConfBaseException as exc:  # a dangling interpolation, a value of the wrong type
        where = getattr(exc, "full_key", None)
        raise ConfigError(f"config key '{where}': {first_line(exc)}" if where else first_line(exc)) from exc


def _build(cfg: DictConfig, overrides: Iterable[str], tracked: bool | None) -> Experiment:
    cfg = copy.deepcopy(cfg)
    tracked = bool(cfg.tracking.get("_target_")) if tracked is None else tracked
    if tracked:
        cfg.deployment.mlflow_model = True
    configured = str(cfg.trainer.problem_type)
    types = PROBLEM_TYPES if configured == ProblemType.auto else (configured,)
    snapshots = {}
    for problem_type in types:
        fixed = copy.deepcopy(cfg)
        fixed.trainer.problem_type = problem_type
        if estimator_target(fixed) is not None:
            snapshots[problem_type] = OmegaConf.to_yaml(safe_snapshot(fixed))
    if configured != ProblemType.auto and not snapshots:
        raise no_estimator(cfg, configured)
    typed = resolvable(cfg)
    OmegaConf.resolve(typed)
    with open_dict(typed):  # keys added with + (``+team_id``) served interpolations only
        for key in [key for key in typed if key not in CONFIG_FIELDS]:
            del typed[key]
    config = OmegaConf.to_object(typed)
    return Experiment(config, snapshots, tuple(mask_overrides(overrides, cfg)))


def resolvable(cfg: DictConfig) -> DictConfig:
    """A copy of ``cfg`` that resolves without the problem type: ``trainer.model._target_`` None when
    it names no estimator until the run finds the type (the trainer reads ``trainer.estimators`` then)."""
    cfg = copy.deepcopy(cfg)
    if estimator_target(cfg) is None:
        cfg.trainer.model._target_ = None
    return cfg


def estimator_target(cfg: DictConfig) -> str | None:
    """``trainer.model._target_`` resolved, or None when it names no estimator for the problem type."""
    try:
        return OmegaConf.select(cfg, "trainer.model._target_", throw_on_resolution_failure=True)
    except (InterpolationKeyError, InterpolationResolutionError):
        return None


def no_estimator(cfg: DictConfig, problem_type: str) -> ConfigError:
    supported = ", ".join(cfg.trainer.estimators) or "none"
    return ConfigError(
        f"config key 'trainer.model._target_': this trainer has no estimator for {problem_type} "
        f"(it supports: {supported}); choose another trainer= preset or set trainer.model._target_"
    )
