"""Drift verdicts that account for sample size: what sampling alone gives, and no false alarms from it.

The maths first (tails against scipy, false-alarm rates against simulated
windows), then windows drawn from the training distribution itself, scored
like live data on a deployment with a 500-category column.
"""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from easy_mlops.deployment import Deployment
from easy_mlops.observability.drift_null import FittedChiSquare, Kolmogorov
from easy_mlops.observability.drift_statistics import DRIFT_STATISTICS, JensenShannon
from easy_mlops.observability.steps import DriftStep
from easy_mlops.pipeline import run_experiment
from easy_mlops.profiles import numeric_counts, numeric_reference

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


CODES = np.array([f"code{i:03d}" for i in range(500)])


def live_table(rows: int, seed: int, shifted: bool = False, flood: str | None = None) -> pd.DataFrame:
    """Rows of the training distribution; ``shifted``: x up by one sd, other city shares, and a fifth
    of the rows on the code ``flood``."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "code": rng.choice(CODES, rows),  # 500 equally likely: 8 rows each in the training split
            "city": rng.choice(
                ["paris", "lyon", "nice"], rows, p=[0.4, 0.3, 0.3] if shifted else [0.6, 0.3, 0.1]
            ),
            "x": rng.normal(size=rows) + (1.0 if shifted else 0.0),
            "amount": rng.lognormal(0.0, 0.5, rows),
        }
    )
    if shifted:
        frame.loc[rng.random(rows) < 0.2, "code"] = flood
    return frame


@pytest.fixture
def many_categories(compose, tmp_path, models_dir):
    train = live_table(5000, 0)
    train["y"] = np.where(train.x + np.random.default_rng(1).normal(0, 0.5, 5000) > 0, "yes", "no")
    train.to_csv(tmp_path / "train.csv", index=False)
    cfg = compose("data=csv", f"data.path={tmp_path / 'train.csv'}", "trainer=logistic_regression")
    return models_dir / run_experiment(cfg)["deployment"]["deployment_name"]


def test_same_distribution_windows_do_not_alert_on_500_categories(cli, many_categories, tmp_path):
    """The reported case: 1,000 rows like the training data's, a 500-category column, status exits 0."""
    live_table(1000, 7).to_csv(tmp_path / "same.csv", index=False)
    assert cli("predict", tmp_path / "same.csv", many_categories, "-o", tmp_path / "a.json").returncode == 0
    assert cli("status", many_categories, "--fail-on-alert").returncode == 0
    drift = json.loads(cli("status", many_categories, "--json").stdout)["drift"]
    assert drift["significance"] == 0.01 and not any(f["drifted"] for f in drift["features"].values())
    code = drift["features"]["code"]
    # Sampling alone scores it above the configured threshold at 1,000 rows: the applied one is higher.
    assert code["threshold"] == 0.1 and code["applied_threshold"] > code["score"] > 0.08
    profile = json.loads((many_categories / "profile.json").read_text())
    current = json.loads((many_categories / "logs" / "drift_counts.json").read_text())["hours"]
    [counts] = current.values()
    alpha = 0.01 / (len(drift["features"]) + 1)  # shared among the features and the predictions
    expected = JensenShannon().null(profile["features"]["code"], counts["features"]["code"])
    assert code["applied_threshold"] == pytest.approx(expected.critical(alpha))
    assert code["p_value"] == pytest.approx(expected.p_value(code["score"]))
    assert "< 0.1" in cli("status", many_categories).stdout  # each score against the threshold applied


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


def test_a_significance_outside_zero_and_one_is_one_line_naming_it(cli, tmp_path):
    train = live_table(300, 0).assign(y=lambda frame: np.where(frame.x > 0, "yes", "no"))
    train.to_csv(tmp_path / "train.csv", index=False)
    result = cli("train", tmp_path / "train.csv", "--target", "y", "observability.drift.significance=0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "drift significance must be between 0 and 1, got 0.0" in result.stderr
