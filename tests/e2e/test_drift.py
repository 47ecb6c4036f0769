"""Drift after day one: the training profile against what predict logged, as status reports it."""

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from easy_mlops.errors import ConfigError
from easy_mlops.observability.drift_statistics import (
    NUMERIC,
    names_for,
)
from easy_mlops.pipeline import run_experiment


def table(rows: int, seed: int, shift: float = 0.0, city: str | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=rows) + shift,
            "x2": rng.normal(size=rows),
            "city": rng.choice(["a", "b", "c"], rows),
        }
    )
    if city is not None:
        frame["city"] = city
    return frame


@pytest.fixture
def deployed(compose, tmp_path, models_dir):
    train = table(2000, 0)
    train["y"] = np.where(train.x1 + np.random.default_rng(1).normal(0, 0.5, 2000) > 0, "yes", "no")
    train.to_csv(tmp_path / "train.csv", index=False)
    table(600, 2).to_csv(tmp_path / "same.csv", index=False)
    table(1800, 3, shift=1.5, city="c").to_csv(tmp_path / "shifted.csv", index=False)
    cfg = compose("data=csv", f"data.path={tmp_path / 'train.csv'}")
    return models_dir / run_experiment(cfg)["deployment"]["deployment_name"]


def test_drift_is_found_in_the_shifted_features_and_alerts_on_it(cli, deployed, tmp_path):
    assert cli("predict", tmp_path / "same.csv", deployed, "-o", tmp_path / "a.json").returncode == 0
    quiet = json.loads(cli("status", deployed, "--json").stdout)["drift"]
    assert quiet["rows"] == 600 and quiet["dataset_drift"] is False
    assert [name for name, f in quiet["features"].items() if f["drifted"]] == []
    assert cli("status", deployed, "--fail-on-alert").returncode == 0

    assert cli("predict", tmp_path / "shifted.csv", deployed, "-o", tmp_path / "b.json").returncode == 0
    drift = json.loads(cli("status", deployed, "--json").stdout)["drift"]
    assert drift["window"] == "all" and drift["rows"] == 2400  # the window holds both files
    assert {name for name, f in drift["features"].items() if f["drifted"]} == {"x1", "city"}
    assert drift["features"]["x1"]["stat"] == "psi" and drift["features"]["city"]["stat"] == "jensenshannon"
    assert drift["dataset_drift"] is True and drift["share_drifted"] == pytest.approx(2 / 3)
    assert drift["prediction"]["drifted"] is True  # more "yes" when x1 moved up
    status = cli("status", deployed, "--fail-on-alert")
    assert status.returncode == 3
    text = status.stdout
    assert text.index("x1 ") < text.index("x2 ")  # drifted features first
    assert "ALERT drift in x1: psi" in text and "ALERT dataset drift: 67% of the features drifted" in text
    records = [json.loads(line) for line in (deployed / "logs" / "alerts.jsonl").read_text().splitlines()]
    drift_records = [r for r in records if r.get("source") == "drift"]
    assert [a["feature"] for a in drift_records[-1]["alerts"]] == ["x1", "city", "dataset", "prediction"]
    assert "DRIFT" in cli("observe", deployed).stdout


def test_other_statistics_and_a_window(cli, compose, tmp_path, models_dir):
    train = table(2000, 0)
    train["y"] = train.x1 * 2 + 1  # a regression: numeric predictions
    train.to_csv(tmp_path / "train.csv", index=False)
    table(500, 3, shift=1.0).to_csv(tmp_path / "shifted.csv", index=False)
    cfg = compose(
        "data=csv",
        f"data.path={tmp_path / 'train.csv'}",
        "observability.drift.numeric_stat=wasserstein",
        "observability.drift.window=24h",
    )
    deployment = models_dir / run_experiment(cfg)["deployment"]["deployment_name"]
    cli("predict", tmp_path / "shifted.csv", deployment, "-o", tmp_path / "a.json")
    counts_path = deployment / "logs" / "drift_counts.json"
    counts = json.loads(counts_path.read_text())
    old_hour = (datetime.now(UTC) - timedelta(hours=30)).isoformat()[:13]
    counts["hours"][old_hour] = next(iter(counts["hours"].values()))  # as if logged yesterday too
    counts_path.write_text(json.dumps(counts))
    drift = json.loads(cli("status", deployment, "--json").stdout)["drift"]
    assert drift["window"] == "24h" and drift["rows"] == 500  # yesterday's hour is outside the window
    assert drift["features"]["x1"]["stat"] == "wasserstein" and drift["features"]["x1"]["drifted"] is True
    assert drift["features"]["x2"]["drifted"] is False and drift["dataset_drift"] is False  # JSON booleans
    assert drift["features"]["x1"]["score"] == pytest.approx(1.0, abs=0.15)
    assert drift["prediction"]["stat"] == "wasserstein" and drift["prediction"]["drifted"]


def test_too_few_rows_and_no_profile_are_a_line_not_an_alert(cli, compose, deployed, tmp_path, models_dir):
    table(50, 4, shift=3.0).to_csv(tmp_path / "few.csv", index=False)
    cli("predict", tmp_path / "few.csv", deployed, "-o", tmp_path / "a.json")
    drift = json.loads(cli("status", deployed, "--json").stdout)["drift"]
    assert drift["rows"] == 50 and drift["message"].startswith("insufficient data: 50 row(s) in the window")
    assert cli("status", deployed, "--fail-on-alert").returncode == 0
    cfg = compose("data=csv", f"data.path={tmp_path / 'train.csv'}", "~deployment.steps.save_profile")
    old = models_dir / run_experiment(cfg)["deployment"]["deployment_name"]  # as made before profiles
    assert not (old / "profile.json").exists()
    assert cli("predict", tmp_path / "shifted.csv", old, "-o", tmp_path / "b.json").returncode == 0
    status = cli("status", old, "--json")
    assert status.returncode == 0
    assert json.loads(status.stdout)["drift"]["message"].startswith("no reference profile")


def test_an_empty_window_and_a_corrupt_counts_file(cli, deployed, tmp_path):
    empty = json.loads(cli("status", deployed, "--json").stdout)["drift"]
    assert empty["rows"] == 0 and empty["message"] == "no predictions logged in the window (all) yet"
    cli("predict", tmp_path / "shifted.csv", deployed, "-o", tmp_path / "a.json")
    counts_path = deployed / "logs" / "drift_counts.json"
    before = json.loads(cli("status", deployed, "--json").stdout)["drift"]
    counts_path.write_text('{"version": 1, "hours": {"2026-')  # a writer died mid-write on another system
    status = cli("status", deployed, "--json")
    assert status.returncode == 0
    assert "drift_counts.json was corrupt (kept as drift_counts.json.corrupt)" in status.stderr
    after = json.loads(status.stdout)["drift"]
    assert after["rows"] == before["rows"] == 1800  # every logged prediction counted again
    assert after["prediction"]["score"] == pytest.approx(before["prediction"]["score"])
    assert after["features"] == {}  # inputs are not in the log: input drift restarts
    assert (deployed / "logs" / "drift_counts.json.corrupt").exists()
    cli("predict", tmp_path / "shifted.csv", deployed, "-o", tmp_path / "b.json")
    again = json.loads(cli("status", deployed, "--json").stdout)["drift"]
    assert again["rows"] == 3600 and again["features"]["x1"]["drifted"]


# --------------------------------------------------------------------------- the registry of statistics

UNKNOWN = "config key 'observability.drift.numeric_stat': unknown numeric drift statistic '{}'; known: {}"


def test_an_unknown_statistic_is_refused_before_any_data_is_read(cli, compose, classification_csv, tmp_path):
    known = ", ".join(names_for(NUMERIC))  # the registry's: no other list of them
    assert known == "ks, psi, wasserstein"
    for name in ("median", "jensenshannon"):  # the categorical statistic is no numeric one
        # The data file does not exist: reading it first would say so instead.
        cfg = compose(
            "data=csv", f"data.path={tmp_path / 'absent.csv'}", f"observability.drift.numeric_stat={name}"
        )
        with pytest.raises(ConfigError) as refused:
            run_experiment(cfg)
        assert str(refused.value) == UNKNOWN.format(name, known)
    # From the command line, with the drift step switched off too: one line, exit 2, nothing written.
    result = cli(
        "train",
        classification_csv,
        "--target",
        "churn",
        "observability.drift.numeric_stat=median",
        "observability.drift.enabled=false",
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert UNKNOWN.format("median", known) in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "models").exists()
