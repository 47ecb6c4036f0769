"""Drift verdicts that account for sample size, through the commands: ``status`` on 500 categories.

The maths and the drift step's windows: tests/unit/test_drift_null.py.
"""

import json

import numpy as np
import pytest

from easy_mlops.observability.drift_statistics import JensenShannon

from helpers import live_table


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


def test_a_significance_outside_zero_and_one_is_one_line_naming_it(cli, tmp_path):
    train = live_table(300, 0).assign(y=lambda frame: np.where(frame.x > 0, "yes", "no"))
    train.to_csv(tmp_path / "train.csv", index=False)
    result = cli("train", tmp_path / "train.csv", "--target", "y", "observability.drift.significance=0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "drift significance must be between 0 and 1, got 0.0" in result.stderr
