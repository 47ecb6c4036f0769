"""``make-mlops-easy predict``: what it prints and writes, files of each format, class probabilities."""

import json

import numpy as np
import pandas as pd
import pytest

from easy_mlops.pipeline import run_experiment

from helpers import predict


def test_cli_round_trip_equals_the_in_process_model(cli, deployment, frame, tmp_path):
    frame.to_csv(tmp_path / "new.csv", index=False)
    printed = cli("predict", tmp_path / "new.csv", deployment)
    assert printed.returncode == 0, printed.stderr
    written = cli("predict", tmp_path / "new.csv", deployment, "-o", tmp_path / "out.json")
    assert written.returncode == 0, written.stderr
    assert written.stdout == ""
    assert "wrote 60 predictions" in written.stderr
    assert json.loads(printed.stdout) == json.loads((tmp_path / "out.json").read_text())
    assert json.loads(printed.stdout)["predictions"] == predict(frame, deployment)


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".parquet"])
def test_json_and_parquet_inputs(cli, deployment, frame, tmp_path, suffix):
    path = tmp_path / f"new{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=suffix == ".jsonl")
    from easy_mlops.inference import predict_file

    assert predict_file(path, deployment, log_predictions=False) == predict(frame, deployment)


# --------------------------------------------------------------------------- class probabilities


def logged_labels(deployment) -> list:
    from pathlib import Path

    log = Path(deployment) / "logs" / "predictions_log.jsonl"
    return [json.loads(line)["prediction"] for line in log.read_text().splitlines()] if log.exists() else []


def test_predict_proba_prints_classes_and_one_probability_row_per_input(
    cli, deployment, frame, tmp_path, monkeypatch
):
    import easy_mlops.inference
    from easy_mlops.deployment import Deployment

    frame.to_csv(tmp_path / "new.csv", index=False)
    before = logged_labels(deployment)
    printed = cli("predict", tmp_path / "new.csv", deployment, "--proba")
    assert printed.returncode == 0, printed.stderr
    document = json.loads(printed.stdout)
    assert list(document) == ["predictions", "classes", "probabilities"]

    loaded = Deployment.load(deployment)
    model = loaded.model
    features = loaded.preprocessor.transform(frame)
    assert document["predictions"] == model.predict(features).tolist() == predict(frame, deployment)
    assert document["classes"] == model.classes_.tolist() == ["no", "yes"]
    assert document["probabilities"] == model.predict_proba(features).tolist()
    assert len(document["probabilities"]) == len(frame) == 60
    assert np.allclose(np.sum(document["probabilities"], axis=1), 1)
    assert loaded.predict_proba(frame).tolist() == document["probabilities"]  # the Python API's method
    # The log keeps the labels, as without --proba.
    assert logged_labels(deployment)[len(before) :] == document["predictions"]

    # Written in pieces to a file: the same JSON, whatever the piece size.
    monkeypatch.setattr(easy_mlops.inference, "PROBABILITY_ROWS_PER_PIECE", 7)
    written = cli("predict", tmp_path / "new.csv", deployment, "--proba", "--no-log", "-o", "out.json")
    assert written.returncode == 0, written.stderr
    assert written.stdout == "" and "wrote 60 predictions to out.json" in written.stderr
    assert json.loads((tmp_path / "out.json").read_text()) == document
    streamed = cli("predict", tmp_path / "new.csv", deployment, "--no-log", "--proba")
    assert json.loads(streamed.stdout) == document
    plain = cli("predict", tmp_path / "new.csv", deployment, "--no-log")
    assert json.loads(plain.stdout) == {"predictions": document["predictions"]}  # unchanged without it


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ([], "a regression deployment predicts numbers, not class probabilities; predict without proba"),
        (
            ["trainer=logistic_regression", "trainer.estimators.classification=sklearn.svm.LinearSVC"],
            "its estimator LinearSVC has no predict_proba; predict without proba",
        ),
    ],
    ids=["regression", "no-predict_proba"],
)
def test_proba_is_refused_before_anything_is_scored_or_logged(
    cli, compose, tmp_path, models_dir, regression_csv, classification_csv, overrides, says
):
    data = classification_csv if overrides else regression_csv
    deployed = (
        models_dir
        / run_experiment(compose("data=csv", f"data.path={data}", *overrides))["deployment"][
            "deployment_name"
        ]
    )
    refused = cli("predict", data, deployed, "--proba", "-o", "out.json")
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [f"error: {deployed.name}: {says}"]
    assert not (tmp_path / "out.json").exists()
    assert not (deployed / "logs" / "predictions_log.jsonl").exists()
    assert cli("predict", data, deployed, "--no-log").returncode == 0  # predicting labels still works


def test_proba_of_a_classifier_that_is_no_forest_keeps_its_own_predict(
    cli, compose, classification_csv, models_dir
):
    from easy_mlops.deployment import Deployment

    cfg = compose("data=csv", f"data.path={classification_csv}", "trainer=logistic_regression")
    deployed = models_dir / run_experiment(cfg)["deployment"]["deployment_name"]
    document = json.loads(cli("predict", classification_csv, deployed, "--proba", "--no-log").stdout)
    loaded = Deployment.load(deployed)
    features = loaded.preprocessor.transform(pd.read_csv(classification_csv).drop(columns=["churn"]))
    assert document["predictions"] == loaded.model.predict(features).tolist()
    assert document["probabilities"] == loaded.model.predict_proba(features).tolist()
