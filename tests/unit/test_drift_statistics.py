"""The drift statistics on known vectors, and their registry as the config names it.

Drift as ``predict`` and ``status`` meet it: tests/e2e/test_drift.py.
"""

import dataclasses
import inspect
import math

import numpy as np
import pandas as pd
import pytest

from easy_mlops.config.config import DriftConfig
from easy_mlops.errors import ConfigError
from easy_mlops.observability import ModelMonitor
from easy_mlops.observability.drift import jensen_shannon, psi
from easy_mlops.observability.drift_statistics import (
    CATEGORICAL,
    DRIFT_STATISTICS,
    NUMERIC,
    KolmogorovSmirnov,
    names_for,
    numeric_statistic,
    register_statistic,
)
from easy_mlops.observability.steps import DriftStep
from easy_mlops.profiles import numeric_reference


def numeric_score(stat: str, profile: dict, current: list) -> float:
    """A numeric feature's score by the statistic registered under ``stat``."""
    return numeric_statistic(stat).score(profile, current)


def test_the_statistics_on_known_vectors():
    assert psi([10, 20, 70], [10, 20, 70]) == 0.0
    assert psi([50, 50], [90, 10]) == pytest.approx(0.4 * math.log(1.8) - 0.4 * math.log(0.2), rel=1e-6)
    assert jensen_shannon([1, 0], [0, 1]) == pytest.approx(math.sqrt(math.log(2)))  # the maximum
    assert jensen_shannon([3, 1], [3, 1]) == 0.0
    rng = np.random.default_rng(0)
    reference = numeric_reference(pd.Series(rng.normal(size=20_000)))
    same = numeric_reference(pd.Series(rng.normal(size=20_000)))["counts"]
    moved = numeric_reference(pd.Series(rng.normal(loc=1.0, size=20_000)))
    from easy_mlops.profiles import numeric_counts

    moved = numeric_counts(reference, rng.normal(loc=1.0, size=20_000))
    same = numeric_counts(reference, rng.normal(size=20_000))
    assert numeric_score("psi", reference, same) < 0.01 and numeric_score("psi", reference, moved) > 0.5
    assert numeric_score("ks", reference, same) < 0.02 and 0.35 < numeric_score("ks", reference, moved) < 0.42
    # One standard deviation of shift: the normalised Wasserstein distance is about 1.
    assert numeric_score("wasserstein", reference, moved) == pytest.approx(1.0, abs=0.05)


def test_values_far_beyond_the_training_range_count_for_how_far_they_are():
    from scipy.stats import wasserstein_distance

    from easy_mlops.profiles import numeric_counts

    rng = np.random.default_rng(0)
    training = rng.normal(size=50_000)
    reference = numeric_reference(pd.Series(training))
    live = np.where(rng.random(200_000) < 0.02, 50.0, rng.normal(size=200_000))  # 2% far out
    counts = numeric_counts(reference, live)
    exact = wasserstein_distance(training, live) / training.std()
    assert numeric_score("wasserstein", reference, counts) == pytest.approx(exact, rel=0.05)  # about 1
    assert numeric_score("psi", reference, counts) > 0.1  # out of range is its own group, not an edge decile
    within = numeric_counts(reference, rng.normal(size=200_000))
    assert numeric_score("wasserstein", reference, within) < 0.02


SHIFTS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)  # in standard deviations of the training values


def test_identical_shares_score_zero_whatever_the_number_of_rows():
    reference = numeric_reference(pd.Series(np.random.default_rng(3).normal(size=5_000)))
    tripled = [3 * count for count in reference["counts"]]
    for stat in ("psi", "ks", "wasserstein"):
        assert numeric_score(stat, reference, reference["counts"]) == 0.0, stat
        assert numeric_score(stat, reference, tripled) == pytest.approx(0.0, abs=1e-12), stat
    categories = [600, 300, 100, 0, 0]  # [categories..., other, missing]
    assert psi(categories, [6, 3, 1, 0, 0]) == pytest.approx(0.0, abs=1e-12)
    assert jensen_shannon(categories, [6, 3, 1, 0, 0]) == pytest.approx(0.0, abs=1e-7)


def test_psi_and_the_jensen_shannon_distance_are_symmetric_bounded_and_the_distance_a_metric():
    rng = np.random.default_rng(5)
    ceiling = math.sqrt(math.log(2))  # natural log: disjoint distributions
    for _ in range(300):
        size = int(rng.integers(2, 12))
        p, q, r = (
            rng.integers(0, 40, size) + np.eye(size, dtype=int)[i % size] for i in range(3)
        )  # zeros too
        assert psi(p, q) == pytest.approx(psi(q, p), rel=1e-12) and psi(p, q) >= 0
        assert jensen_shannon(p, q) == pytest.approx(jensen_shannon(q, p), rel=1e-12)
        assert 0 <= jensen_shannon(p, q) <= ceiling
        assert jensen_shannon(p, r) <= jensen_shannon(p, q) + jensen_shannon(q, r) + 1e-12  # triangle
    # An entry empty on one side: PSI's floor keeps it finite, as the formula with that floor says.
    floor = 1e-4
    assert psi([10, 0], [5, 5]) == pytest.approx(
        (0.5 - 1) * math.log(0.5) + (0.5 - floor) * math.log(0.5 / floor)
    )


def test_every_numeric_statistic_grows_with_the_shift_and_wasserstein_measures_it_in_sds():
    from easy_mlops.profiles import numeric_counts

    rng = np.random.default_rng(7)
    sd = 2.0
    training = rng.normal(10.0, sd, 20_000)
    reference = numeric_reference(pd.Series(training))
    live = rng.normal(10.0, sd, 20_000)
    for stat in ("psi", "ks", "wasserstein"):
        scores = [
            numeric_score(stat, reference, numeric_counts(reference, live + shift * sd)) for shift in SHIFTS
        ]
        assert scores == sorted(scores) and len(set(scores)) == len(scores), (stat, scores)
        down = [
            numeric_score(stat, reference, numeric_counts(reference, live - shift * sd)) for shift in SHIFTS
        ]
        assert down == pytest.approx(scores, rel=0.2, abs=0.02), stat  # about symmetric: a normal's shape
    for shift in SHIFTS[1:]:
        moved = numeric_counts(reference, live + shift * sd)
        assert numeric_score("wasserstein", reference, moved) == pytest.approx(shift, rel=0.06, abs=0.02)
    # Binning only hides gaps: the binned KS is close to scipy's on the raw values.
    from scipy.stats import ks_2samp

    raw = ks_2samp(training, live + 0.3 * sd).statistic
    assert numeric_score("ks", reference, numeric_counts(reference, live + 0.3 * sd)) == pytest.approx(
        raw, abs=0.03
    )


def test_the_config_and_the_registry_agree():
    """The config's default is a registered numeric statistic, and each statistic's threshold and
    warning level are settings the config carries (and the drift step takes)."""
    settings = {setting.name for setting in dataclasses.fields(DriftConfig)}
    step_arguments = set(inspect.signature(DriftStep).parameters)
    assert DriftConfig().numeric_stat in names_for(NUMERIC)
    assert names_for(CATEGORICAL) == ["jensenshannon"]
    for statistic_cls in DRIFT_STATISTICS.values():
        for setting in filter(None, (statistic_cls.threshold_setting, statistic_cls.warning_setting)):
            assert setting in settings and setting in step_arguments, (statistic_cls.name, setting)


def test_a_statistic_registered_beside_the_others_is_a_config_value_at_once(compose):
    @register_statistic
    class DoubleKs(KolmogorovSmirnov):
        """Twice the largest gap between the binned CDFs."""

        name = "double_ks"

        def score(self, profile, current):
            return 2 * super().score(profile, current)

    try:
        monitor = ModelMonitor(compose("observability.drift.numeric_stat=double_ks").observability)
        [drift] = [step for step in monitor.steps if isinstance(step, DriftStep)]
        assert isinstance(drift.statistics[NUMERIC], DoubleKs)
        assert "double_ks" in names_for(NUMERIC)
    finally:
        DRIFT_STATISTICS.pop("double_ks")
    with pytest.raises(
        ConfigError, match="unknown numeric drift statistic 'double_ks'; known: ks, psi, wasserstein"
    ):
        ModelMonitor(compose("observability.drift.numeric_stat=double_ks").observability)
