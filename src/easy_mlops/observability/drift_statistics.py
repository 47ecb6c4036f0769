"""The drift statistics by name: what each scores, its noise model, its threshold, what it compares.

A statistic compares one kind of profiled column (``numeric`` or
``categorical``, see :mod:`easy_mlops.profiles`) with live counts on the same
bins: its score is in :mod:`easy_mlops.observability.drift`, its distribution
under no drift in :mod:`easy_mlops.observability.drift_null`, and the drift
setting holding its alert threshold (and warning level, for PSI) is named
here. ``observability.drift.numeric_stat`` names one of the numeric ones;
categorical columns (and a classifier's predictions) use the Jensen–Shannon
distance. The ``drift`` step reads this registry instead of branching on
names, and the name a config gives is checked against it when the monitor is
built, before any data is read: the registry is the one list of statistics
(the config schema, a layer below, keeps the name as plain text).

Importing this module costs no numpy (``list`` imports the steps): a
statistic's maths are imported when it first scores.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from easy_mlops.config.registry import register
from easy_mlops.errors import ConfigError

if TYPE_CHECKING:
    from easy_mlops.observability.drift_null import Null

NUMERIC, CATEGORICAL = "numeric", "categorical"  # the kinds of profiled column
NUMERIC_STAT_KEY = "observability.drift.numeric_stat"

# name -> statistic class: what observability.drift.numeric_stat (and a verdict's "stat") names.
DRIFT_STATISTICS: dict[str, type["DriftStatistic"]] = {}


@dataclass(frozen=True)
class DriftStatistic:
    """One statistic between a profiled column's reference counts and live counts on the same bins.

    ``score`` is how far apart they are; ``null`` the distribution of that
    score when both come from one distribution (None when a side has no
    values), from which the ``drift`` step reads what sampling alone reaches.
    Instances hold nothing: two of one class are equal, so two steps built
    from one config compare equal.
    """

    name: ClassVar[str] = ""
    kinds: ClassVar[frozenset[str]] = frozenset()  # the kinds of profiled column it compares
    threshold_setting: ClassVar[str] = "threshold"  # the drift setting holding its alert threshold
    warning_setting: ClassVar[str | None] = None  # the drift setting holding its warning level, if any

    def score(self, profile: dict[str, Any], current: list[float]) -> float:
        raise NotImplementedError

    def null(self, profile: dict[str, Any], current: list[float]) -> "Null | None":
        raise NotImplementedError


def register_statistic(statistic_cls: type) -> type:
    """Make a :class:`DriftStatistic` subclass nameable by its ``name`` (a decorator too)."""
    return register(DRIFT_STATISTICS, DriftStatistic, statistic_cls)


def statistic_for(kind: str, name: str, key: str) -> DriftStatistic:
    """The registered statistic ``name``, which must compare columns of ``kind``; otherwise one line
    naming the config ``key`` and the statistics that would do."""
    statistic_cls = DRIFT_STATISTICS.get(str(name))
    if statistic_cls is None or kind not in statistic_cls.kinds:
        known = ", ".join(names_for(kind))
        raise ConfigError(f"config key '{key}': unknown {kind} drift statistic '{name}'; known: {known}")
    return statistic_cls()


def numeric_statistic(name: str) -> DriftStatistic:
    """The statistic ``observability.drift.numeric_stat`` names."""
    return statistic_for(NUMERIC, name, NUMERIC_STAT_KEY)


def names_for(kind: str) -> list[str]:
    """The names of the statistics that compare columns of ``kind``, sorted."""
    return sorted(name for name, statistic_cls in DRIFT_STATISTICS.items() if kind in statistic_cls.kinds)


@register_statistic
class Psi(DriftStatistic):
    """Population stability index on the reference's deciles; past ``psi_warning`` it warns."""

    name = "psi"
    kinds = frozenset({NUMERIC})
    threshold_setting = "psi_threshold"
    warning_setting = "psi_warning"

    def score(self, profile: dict[str, Any], current: list[float]) -> float:
        from easy_mlops.observability.drift import psi_score

        return psi_score(profile, current)

    def null(self, profile: dict[str, Any], current: list[float]) -> "Null | None":
        from easy_mlops.observability.drift_null import psi_null

        return psi_null(profile, current)


@register_statistic
class Wasserstein(DriftStatistic):
    """The earth mover's distance, over the reference's standard deviation."""

    name = "wasserstein"
    kinds = frozenset({NUMERIC})

    def score(self, profile: dict[str, Any], current: list[float]) -> float:
        from easy_mlops.observability.drift import wasserstein_score

        return wasserstein_score(profile, current)

    def null(self, profile: dict[str, Any], current: list[float]) -> "Null | None":
        from easy_mlops.observability.drift_null import wasserstein_null

        return wasserstein_null(profile, current)


@register_statistic
class KolmogorovSmirnov(DriftStatistic):
    """The largest gap between the binned CDFs."""

    name = "ks"
    kinds = frozenset({NUMERIC})

    def score(self, profile: dict[str, Any], current: list[float]) -> float:
        from easy_mlops.observability.drift import ks_score

        return ks_score(profile, current)

    def null(self, profile: dict[str, Any], current: list[float]) -> "Null | None":
        from easy_mlops.observability.drift_null import ks_null

        return ks_null(profile, current)


@register_statistic
class JensenShannon(DriftStatistic):
    """The Jensen–Shannon distance (natural log) over the top categories, "other" and "missing"."""

    name = "jensenshannon"
    kinds = frozenset({CATEGORICAL})

    def score(self, profile: dict[str, Any], current: list[float]) -> float:
        from easy_mlops.observability.drift import jensen_shannon_score

        return jensen_shannon_score(profile, current)

    def null(self, profile: dict[str, Any], current: list[float]) -> "Null | None":
        from easy_mlops.observability.drift_null import jensen_shannon_null

        return jensen_shannon_null(profile, current)
