"""Drift verdicts that account for sample size: what sampling alone gives, and no false alarms from it.

The maths first (tails against scipy, false-alarm rates against simulated
windows), then windows drawn from the training distribution itself, scored
by the drift step like live data on a deployment with a 500-category column.
The same through ``predict`` and ``status``: tests/e2e/test_drift_null_status.py.
"""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from easy_mlops.deployment import Deployment
from easy_mlops.observability.drift_null import FittedChiSquare, Kolmogorov
from easy_mlops.observability.drift_statistics import DRIFT_STATISTICS
from easy_mlops.observability.steps import DriftStep
from easy_mlops.profiles import numeric_counts, numeric_reference

from helpers import live_table

STATISTICS = ("psi", "wasserstein", "ks")


def test_chi_square_and_kolmogorov_tails_match_scipy():
    from scipy import stats

    for dof in (0.75, 1, 2, 5, 50):
        scale, shift = 0.003, 0.01
        two = FittedChiSquare(mean=scale * dof, variance=2 * scale**2 * dof)
        # A shifted chi-square: its third central moment is 8 scale**3 dof.
        three = FittedChiSquare(shift + scale * dof, 2 * scale**2 * dof, 8 * scale**3 * dof)
        for alpha in (0.05, 0.01, 0.001, 0.0001):
            # Wilson-Hilferty is within 4% up to 0.001; beyond, on one or two dof, its tail is a little
            # heavier than the chi-square's (fewer alarms, larger p-values), never lighter.
            exact = scale * stats.chi2.isf(alpha, dof)
            assert two.critical(alpha) == pytest.approx(exact, rel=0.04 if alpha >= 0.001 else 0.09)
            assert three.critical(alpha) - shift == pytest.approx(two.critical(alpha))
            assert 0.9 < two.p_value(exact) / alpha < (1.2 if alpha >= 0.001 else 1.7)
            assert three.p_value(shift + exact) == pytest.approx(two.p_value(exact))
        distance = FittedChiSquare(scale * dof, 2 * scale**2 * dof, power=2)
        assert distance.critical(0.01) == pytest.approx(two.critical(0.01) ** 0.5)
    for rows in (80.0, 800.0, 2000.0):
        for alpha in (0.05, 0.01, 0.001):
            exact = stats.kstwo.isf(alpha, round(rows))
            assert Kolmogorov(rows).critical(alpha) == pytest.approx(exact, rel=0.01)
            assert Kolmogorov(rows).p_value(exact) == pytest.approx(alpha, rel=0.05)


def test_each_null_narrows_as_the_window_grows_and_its_quantiles_invert_its_tail():
    from easy_mlops.observability.drift_null import jensen_shannon_null, ks_null, psi_null, wasserstein_null

    rng = np.random.default_rng(11)
    numeric = numeric_reference(pd.Series(rng.lognormal(0.0, 0.5, 20_000)))
    categorical = {"kind": "categorical", "counts": [6_000, 3_000, 1_000, 0, 0]}
    nulls = {
        "psi": (psi_null, numeric, lambda n: numeric_counts(numeric, rng.lognormal(0.0, 0.5, n))),
        "wasserstein": (
            wasserstein_null,
            numeric,
            lambda n: numeric_counts(numeric, rng.lognormal(0.0, 0.5, n)),
        ),
        "ks": (ks_null, numeric, lambda n: numeric_counts(numeric, rng.lognormal(0.0, 0.5, n))),
        "jensenshannon": (
            jensen_shannon_null,
            categorical,
            lambda n: rng.multinomial(n, [0.6, 0.3, 0.1, 0, 0]),
        ),
    }
    for name, (null_of, profile, window) in nulls.items():
        criticals = []
        for rows in (100, 1_000, 10_000):
            null = null_of(profile, list(window(rows)))
            by_alpha = [null.critical(alpha) for alpha in (0.1, 0.05, 0.01, 0.001)]
            assert by_alpha == sorted(by_alpha) and by_alpha[0] > 0, (name, rows)  # rarer: further out
            for alpha in (0.05, 0.01, 0.001):
                assert null.p_value(null.critical(alpha)) == pytest.approx(alpha, rel=0.01), (
                    name,
                    rows,
                    alpha,
                )
            criticals.append(null.critical(0.01))
        assert criticals == sorted(criticals, reverse=True), (name, criticals)  # more rows, less noise


def test_no_spread_is_a_point_at_zero_and_a_side_without_values_has_no_null():
    from easy_mlops.observability.drift_null import jensen_shannon_null, psi_null

    point = FittedChiSquare(mean=0.0, variance=0.0)
    assert (point.critical(0.01), point.p_value(0.0), point.p_value(1e-9)) == (0.0, 1.0, 0.0)
    numeric = numeric_reference(pd.Series(np.arange(100.0)))
    assert psi_null(numeric, [0] * len(numeric["counts"])) is None  # nothing logged in the window
    assert jensen_shannon_null({"counts": [0, 0, 0]}, [5, 1, 0]) is None  # a profile without values
    for stat in STATISTICS:
        assert DRIFT_STATISTICS[stat]().null(numeric, [0] * len(numeric["counts"])) is None, stat


def p_value_of(stat: str, profile: dict, current: list) -> float:
    statistic = DRIFT_STATISTICS[stat]()
    return statistic.null(profile, current).p_value(statistic.score(profile, current))


@pytest.mark.parametrize("window_rows", [100, 1000])
def test_each_null_raises_false_alarms_at_its_significance(window_rows):
    """Reference and window drawn again and again from one distribution: the share of p-values at or
    below alpha is about alpha, sparse categories included. KS may be lower: bins can only hide a gap."""
    rng = np.random.default_rng(window_rows)
    reference_rows, repeats = 2000, 1000
    three = [0.6, 0.3, 0.1, 0.0, 0.0]  # [categories..., other, missing]
    sparse = np.array([0.004] * 25 + [0.9, 0.0])  # 25 categories a window of 100 rows sees 0.4 times each
    sparse /= sparse.sum()
    p_values = {name: [] for name in ("3 categories", "25 sparse categories", *STATISTICS)}
    for _ in range(repeats):
        for name, shares in (("3 categories", three), ("25 sparse categories", sparse)):
            profile = {"kind": "categorical", "counts": rng.multinomial(reference_rows, shares).tolist()}
            p_values[name].append(p_value_of("jensenshannon", profile, rng.multinomial(window_rows, shares)))
        profile = numeric_reference(pd.Series(rng.lognormal(0.0, 0.5, reference_rows)))
        current = numeric_counts(profile, rng.lognormal(0.0, 0.5, window_rows))
        for stat in STATISTICS:
            p_values[stat].append(p_value_of(stat, profile, current))
    rates = {
        name: {alpha: float(np.mean(np.array(values) <= alpha)) for alpha in (0.05, 0.01)}
        for name, values in p_values.items()
    }
    for name, rate in rates.items():
        low = 0.015 if name == "ks" else 0.03
        assert low <= rate[0.05] <= 0.075 and rate[0.01] <= 0.02, (name, rates)


def drift_of(deployment, work, frame: pd.DataFrame, predictions, stat: str) -> dict:
    """The drift report of a deployment that logged ``frame`` alone, through the drift step's own hooks
    and files (what predict and status run), with ``stat`` for the numeric features."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    shutil.copy(deployment / "profile.json", work)
    step = DriftStep(numeric_stat=stat)
    step.load(work / "logs")
    step.on_log_predictions(predictions, "1.0.0", inputs=frame)
    return step.summary()


def drifted(report: dict) -> set[str]:
    names = {name for name, feature in report["features"].items() if feature["drifted"]}
    return names | ({"(predictions)"} if report["prediction"]["drifted"] else set())


def test_twenty_windows_without_drift_raise_no_alarm_and_real_shifts_still_do(many_categories, tmp_path):
    model = Deployment.load(many_categories)
    false_alarms = []
    for rows in (1000, 100):  # 100: the default min_rows
        for seed in range(20):
            frame = live_table(rows, 100 + seed)
            predictions = model.predict(frame)
            for stat in STATISTICS:
                report = drift_of(many_categories, tmp_path / "window", frame, predictions, stat)
                false_alarms += [(rows, seed, stat, name) for name in drifted(report)]
    assert false_alarms == []
    flood = json.loads((many_categories / "profile.json").read_text())["features"]["code"]["categories"][0]
    for seed in range(3):
        frame = live_table(1000, 200 + seed, shifted=True, flood=flood)
        predictions = model.predict(frame)
        for stat in STATISTICS:
            report = drift_of(many_categories, tmp_path / "window", frame, predictions, stat)
            assert drifted(report) >= {"x", "city", "code"} and "amount" not in drifted(report), stat


def test_a_tiny_change_on_a_huge_window_is_significant_but_below_the_threshold(many_categories, tmp_path):
    """The configured threshold stays the smallest change worth an alert, however sure the test is."""
    frame = live_table(200_000, 9)
    rng = np.random.default_rng(9)
    frame["city"] = rng.choice(["paris", "lyon", "nice"], len(frame), p=[0.56, 0.31, 0.13])
    report = drift_of(
        many_categories, tmp_path / "huge", frame, Deployment.load(many_categories).predict(frame), "psi"
    )
    city = report["features"]["city"]
    assert city["p_value"] < 1e-6 and 0.02 < city["score"] < city["threshold"] == city["applied_threshold"]
    assert not city["drifted"] and not report["dataset_drift"]
