"""The guide's Python API beside the commands: a pipeline's predict, status and observe."""

import json

from easy_mlops import MLOpsPipeline

from helpers import deployments

# --------------------------------------------------------------------------- MLOpsPipeline


def test_pipeline_predict_status_and_observe(tmp_path, classification_csv, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    pipeline = MLOpsPipeline(
        config={"deployment": {"output_dir": str(tmp_path / "models")}},
        overrides=["trainer.model.n_estimators=5"],
    )
    results = pipeline.run(str(classification_csv), target_column="churn")
    model_dir = results["deployment"]["deployment_dir"]
    predictions = pipeline.predict(str(classification_csv), model_dir, log_predictions=True)
    assert len(predictions) == 240
    unlogged = pipeline.predict(str(classification_csv), model_dir, log_predictions=False)
    assert unlogged == predictions
    status = pipeline.get_status(model_dir)
    assert status["predictions"]["total_predictions"] == 240  # the unlogged call left no trace
    assert status == json.loads(cli("status", model_dir, "--json").stdout)
    report = pipeline.observe(model_dir)
    assert report == cli("observe", model_dir).stdout
    assert "PREDICTIONS SUMMARY" in report and "total predictions: 240" in report
    assert len(deployments(tmp_path / "models")) == 1
