"""The guide's "Deployment Configuration Recipes" through the commands: train, init, the endpoint script."""

import json
import os
import subprocess
import sys
from pathlib import Path

from easy_mlops.pipeline import run_experiment

from helpers import block_under, deployments


def test_default_endpoint_script_scores_a_file(compose, tmp_path, classification_csv):
    artifacts = run_experiment(
        compose("deployment.create_endpoint=true", "data=csv", f"data.path={classification_csv}")
    )
    script = artifacts = artifacts["deployment"]["endpoint_path"]
    assert script.endswith("/predict.py") and os.access(script, os.X_OK)
    result = subprocess.run([sys.executable, script, str(classification_csv)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    predictions = json.loads(result.stdout)["predictions"]
    assert len(predictions) == 240 and set(predictions) <= {"yes", "no"}
    log = (Path(script).parent / "logs" / "predictions_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["prediction"] for line in log] == predictions  # the script logs too


def test_step_list_can_skip_a_step(cli, compose, models_dir, tmp_path, classification_csv):
    cfg = compose("~deployment.steps.save_preprocessor", "data=csv", f"data.path={classification_csv}")
    artifacts = run_experiment(cfg)["deployment"]
    assert "preprocessor_path" not in artifacts
    [deployment] = deployments(models_dir)
    assert not list(deployment.glob("preprocessor.*"))
    # The model file carries the preprocessor (the guide's backend that embeds it): it still predicts.
    scored = cli("predict", classification_csv, deployment)
    assert scored.returncode == 0, scored.stderr
    assert len(json.loads(scored.stdout)["predictions"]) == 240
    (tmp_path / "c.yaml").write_text("deployment:\n  steps: [create_directory, save_model, save_metadata]\n")
    cfg = compose(config_file=tmp_path / "c.yaml")
    # The guide's steps left out of the list are switched off (null); ours stay as configured.
    assert [name for name, node in cfg.deployment.steps.items() if node is not None] == [
        "create_directory",
        "save_model",
        "save_profile",
        "mlflow_model",
        "save_metadata",
        "upload",
    ]
    assert cfg.deployment.steps.mlflow_model.enabled is False and cfg.deployment.steps.upload.uri is None


def test_the_guides_step_list_keeps_drift_monitoring(cli, tmp_path, classification_csv, models_dir):
    """The guide's explicit list cannot name save_profile: the profile is still written, and found
    under whatever name it was saved."""

    def train(*options: str) -> Path:
        before = set(models_dir.glob("deployment_*"))
        result = cli("train", classification_csv, "trainer.model.n_estimators=5", *options)
        assert result.returncode == 0, result.stderr
        [made] = set(models_dir.glob("deployment_*")) - before  # the guide's list renames metadata.json
        return made

    (tmp_path / "c.yaml").write_text(block_under("### Explicit step lists", "yaml"))
    listed = train("-c", "c.yaml")
    renamed = train("deployment.steps.save_profile.filename=ref.json")
    for deployment, profile in ((listed, "profile.json"), (renamed, "ref.json")):
        assert (deployment / profile).is_file()
        assert cli("predict", classification_csv, deployment, "-o", tmp_path / "out.json").returncode == 0
        drift = json.loads(cli("status", deployment, "--json").stdout)["drift"]
        assert drift["rows"] == 240 and "features" in drift, drift
    without = train("~deployment.steps.save_profile")
    message = json.loads(cli("status", without, "--json").stdout)["drift"]["message"]
    assert "without its save_profile step" in message and "deployment.steps.save_profile" in message


def test_init_writes_defaults_that_train_accepts(cli, tmp_path, classification_csv):
    assert cli("init").returncode == 0
    written = (tmp_path / "mlops-config.yaml").read_text()
    assert "alert_threshold: 0.8" in written and "output_dir: ./models" in written
    again = cli("init")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert cli("train", classification_csv, "-c", "mlops-config.yaml").returncode == 0


def test_every_default_step_can_be_named_in_a_steps_list(cli, tmp_path, classification_csv, models_dir):
    shared = tmp_path / "shared"
    shared.mkdir()
    (tmp_path / "c.yaml").write_text(
        "deployment:\n"
        f"  upload: {{uri: 'file://{shared}'}}\n"
        "  steps: [create_directory, save_model, save_preprocessor, save_metadata, endpoint_script, upload]\n"
    )
    result = cli("train", classification_csv, "-c", "c.yaml", "trainer.model.n_estimators=5")
    assert result.returncode == 0, result.stderr
    [deployment] = deployments(models_dir)
    assert (shared / deployment.name / "metadata.json").is_file()  # upload ran: it was not dropped
    assert (deployment / "predict.py").is_file()
