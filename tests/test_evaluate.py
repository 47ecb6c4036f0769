"""Live metrics from labels: ``evaluate`` scores labelled data after the deployment and alerts on it."""

import json

import numpy as np
import pandas as pd
import pytest

from easy_mlops import MLOpsPipeline
from easy_mlops.pipeline import run_experiment


def labelled(rows: int, seed: int, flip: float = 0.0) -> pd.DataFrame:
    """``y`` follows ``x1``; ``flip`` is the share of labels turned the other way (the world changed)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=rows), "x2": rng.normal(size=rows)})
    frame["y"] = np.where(frame.x1 > 0, "yes", "no")
    flipped = rng.random(rows) < flip
    frame.loc[flipped, "y"] = np.where(frame.y[flipped] == "yes", "no", "yes")
    return frame


@pytest.fixture
def deployed(compose, tmp_path, models_dir):
    labelled(1000, 0).to_csv(tmp_path / "train.csv", index=False)
    labelled(400, 1).to_csv(tmp_path / "week1.csv", index=False)
    labelled(400, 2, flip=0.4).to_csv(tmp_path / "week2.csv", index=False)
    cfg = compose("data=csv", f"data.path={tmp_path / 'train.csv'}")
    return models_dir / run_experiment(cfg)["deployment"]["deployment_name"]


def metrics_log(deployment):
    return [
        json.loads(line) for line in (deployment / "logs" / "metrics_history.jsonl").read_text().splitlines()
    ]


def test_live_metrics_are_logged_with_their_source_and_alert_when_they_miss(cli, deployed):
    good = cli("evaluate", "week1.csv", str(deployed), "--json", "--fail-on-alert")
    assert good.returncode == 0, good.stderr
    week1 = json.loads(good.stdout)
    assert week1["rows"] == 400 and week1["target"] == "y" and week1["metrics"]["accuracy"] > 0.9
    assert week1["alerts"] == []

    bad = cli("evaluate", "--fail-on-alert", "week2.csv", str(deployed))
    assert bad.returncode == 3, bad.stderr
    assert "ALERT accuracy" in bad.stdout and "Live metrics on week2.csv" in bad.stdout

    sources = [record.get("source") for record in metrics_log(deployed)]
    assert sources == ["training", "live", "live"]
    alerts = [json.loads(line) for line in (deployed / "logs" / "alerts.jsonl").read_text().splitlines()]
    assert [record.get("source") for record in alerts] == ["training", "live", "live"]
    assert [alert["metric"] for alert in alerts[-1]["alerts"]][:1] == ["accuracy"]

    status = json.loads(cli("status", str(deployed), "--json").stdout)
    metrics = status["metrics"]
    live = metrics["live"]
    assert live["evaluations"] == 2 and live["latest_metrics"]["accuracy"] < 0.7
    assert metrics["training_metrics"]["accuracy"] > 0.9  # training day's, beside the live ones
    trend = live["trends"]["accuracy"]
    assert trend["min"] == live["latest_metrics"]["accuracy"] and trend["max"] == week1["metrics"]["accuracy"]
    assert any(alert["metric"] == "accuracy" for alert in status["alerts"]["active_alerts"])
    assert cli("status", str(deployed), "--fail-on-alert").returncode == 3

    text = cli("status", str(deployed)).stdout
    assert "training vs live" in text and "live mean" in text
    report = cli("observe", str(deployed)).stdout
    assert "training vs live (2 live evaluation(s)" in report and "live trend accuracy" in report


def test_a_good_live_evaluation_clears_the_metric_alert(cli, deployed):
    assert cli("evaluate", "week2.csv", str(deployed), "--fail-on-alert").returncode == 3
    assert cli("evaluate", "week1.csv", str(deployed), "--fail-on-alert").returncode == 0
    assert cli("status", str(deployed), "--fail-on-alert").returncode == 0


def test_the_python_api_evaluates_like_the_command(deployed, tmp_path):
    result = MLOpsPipeline().evaluate(tmp_path / "week2.csv", deployed)
    assert result["metrics"]["accuracy"] < 0.7 and result["alerts"][0]["metric"] == "accuracy"
    assert metrics_log(deployed)[-1]["source"] == "live"
    assert MLOpsPipeline().get_status(deployed)["metrics"]["live"]["evaluations"] == 1


def test_an_other_label_column_unlabelled_rows_and_bad_labels(cli, deployed, tmp_path):
    frame = labelled(300, 3).rename(columns={"y": "outcome"})
    frame.loc[:49, "outcome"] = None
    frame.to_csv(tmp_path / "renamed.csv", index=False)
    result = cli("evaluate", "renamed.csv", str(deployed), "--target", "outcome", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == 250 and json.loads(result.stdout)["unlabelled_rows"] == 50

    before = metrics_log(deployed)
    missing = cli("evaluate", "renamed.csv", str(deployed))
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "error: renamed.csv: no label column 'y' (columns: x1, x2, outcome); name it with --target"
    ]
    labelled(20, 4).assign(y="maybe").to_csv(tmp_path / "odd.csv", index=False)
    odd = cli("evaluate", "odd.csv", str(deployed))
    assert (
        odd.returncode == 2
        and "none of its labels is a class this deployment predicts (no, yes)" in odd.stderr
    )
    assert "Traceback" not in missing.stderr + odd.stderr
    assert metrics_log(deployed) == before  # nothing logged for an evaluation that did not happen


def test_regression_live_metrics(compose, cli, tmp_path, models_dir, regression_csv):
    cfg = compose("data=csv", f"data.path={regression_csv}", "observability.metric_thresholds.rmse=0.5")
    deployment = models_dir / run_experiment(cfg)["deployment"]["deployment_name"]
    frame = pd.read_csv(regression_csv)
    frame.assign(**{frame.columns[-1]: frame[frame.columns[-1]] * 3}).to_csv(
        tmp_path / "later.csv", index=False
    )
    result = cli("evaluate", "later.csv", str(deployment), "--json")
    assert result.returncode == 0, result.stderr
    live = json.loads(result.stdout)
    assert set(live["metrics"]) == {"mse", "rmse", "mae", "r2_score"}
    assert any(alert["metric"] == "rmse" for alert in live["alerts"])
