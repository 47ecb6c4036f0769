"""The Hydra app end to end, as a user runs it."""

import json

import yaml

from helpers import deployments


def test_default_run_trains_on_bundled_data_and_deploys(hydra_app, tmp_path):
    result = hydra_app()
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout
    [deployment] = deployments(tmp_path / "models")
    assert f"Deployment: {deployment}" in result.stdout
    assert deployment.name.startswith("deployment_")
    for name in ("model.joblib", "preprocessor.joblib", "metadata.json", "config.yaml", "overrides.yaml"):
        assert (deployment / name).is_file(), name
    assert (deployment / "logs" / "metrics_history.jsonl").is_file()
    metadata = json.loads((deployment / "metadata.json").read_text())
    assert metadata["status"] == "deployed"
    assert metadata["problem_type"] == "classification"
    assert set(metadata["metrics"]) == {"accuracy", "f1_score", "precision", "recall"}
    assert metadata["run"]["data"] == {"dataset": "iris"}
    snapshot = yaml.safe_load((deployment / "config.yaml").read_text())
    assert snapshot["trainer"]["model"]["_target_"] == "sklearn.ensemble.RandomForestClassifier"
    assert "${" not in (deployment / "config.yaml").read_text()  # fully resolved
    # Hydra's own run directory lands under ./outputs, and the job does not chdir.
    assert (tmp_path / "outputs").is_dir()


def test_overrides_reach_the_model_and_are_recorded(hydra_app, tmp_path):
    result = hydra_app("data=diabetes", "trainer=hist_gradient_boosting", "trainer.model.max_iter=20")
    assert result.returncode == 0, result.stderr
    [deployment] = deployments(tmp_path / "models")
    metadata = json.loads((deployment / "metadata.json").read_text())
    assert metadata["problem_type"] == "regression"
    assert set(metadata["metrics"]) == {"mse", "rmse", "mae", "r2_score"}
    assert metadata["run"]["overrides"] == [
        "data=diabetes",
        "trainer=hist_gradient_boosting",
        "trainer.model.max_iter=20",
    ]
    assert yaml.safe_load((deployment / "overrides.yaml").read_text()) == metadata["run"]["overrides"]
    snapshot = yaml.safe_load((deployment / "config.yaml").read_text())
    assert snapshot["trainer"]["model"]["max_iter"] == 20


def test_misspelt_key_fails_before_any_work_with_one_line(hydra_app, tmp_path):
    result = hydra_app("observability.alert_treshold=0.9")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "alert_treshold" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "models").exists()


def test_wrong_type_names_the_key(hydra_app, tmp_path):
    result = hydra_app("trainer.test_size=abc")
    assert result.returncode == 2
    assert "trainer.test_size" in result.stderr and "abc" in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert not (tmp_path / "models").exists()


def test_debug_shows_the_traceback(hydra_app):
    result = hydra_app("trainer=nope", "debug=true")
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_debug_is_a_config_key_for_the_app(hydra_app):
    result = hydra_app("--debug")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: python -m easy_mlops.run takes debug=true (a config key), not --debug"
    )
