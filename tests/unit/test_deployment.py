"""Deployment directories: naming, atomic publication, failures, metadata.

Several processes deploying in the same second: tests/e2e/test_deployment_processes.py.
"""

import json

import pytest

from easy_mlops.deployment import DeploymentStep, ModelDeployer
from easy_mlops.errors import DeploymentError
from easy_mlops.pipeline import run_experiment

from helpers import NOON


def test_same_second_names_get_an_incrementing_suffix(compose, models_dir):
    cfg = compose()
    names = [run_experiment(cfg, clock=lambda: NOON)["deployment"]["deployment_name"] for _ in range(3)]
    assert names == [
        "deployment_20240101_120000",
        "deployment_20240101_120000_1",
        "deployment_20240101_120000_2",
    ]
    metadata = json.loads((models_dir / names[0] / "metadata.json").read_text())
    assert metadata["created_at"] == NOON.isoformat()


class ExplodingStep(DeploymentStep):
    name = "explode"

    def run(self, context):
        (context.deployment_dir / "half_written.bin").write_bytes(b"x" * 10)
        raise OSError("disk on fire")


def test_a_step_that_raises_midway_leaves_nothing_and_names_the_step(compose, models_dir):
    first = run_experiment(compose("trainer.model.n_estimators=5"))["deployment"]["deployment_dir"]
    before = sorted(p.name for p in models_dir.iterdir())
    ModelDeployer.register_step(ExplodingStep)
    cfg = compose("trainer.model.n_estimators=5", "+deployment.steps.explode={}")
    with pytest.raises(DeploymentError, match="deployment step 'explode' failed: OSError: disk on fire"):
        run_experiment(cfg)
    assert sorted(p.name for p in models_dir.iterdir()) == before  # no reservation, no staging left
    ModelDeployer().load_deployed_model(first)  # the earlier deployment is untouched


def test_metadata_describes_the_deployment(compose, models_dir):
    artifacts = run_experiment(compose("deployment.create_endpoint=true"))["deployment"]
    deployment = models_dir / artifacts["deployment_name"]
    metadata = json.loads((deployment / "metadata.json").read_text())
    assert metadata["artifacts"]["model_path"] == str(deployment / "model.joblib")
    assert metadata["artifacts"]["endpoint_path"] == str(deployment / "predict.py")
    assert set(metadata["files"]) == {
        "model.joblib",
        "preprocessor.joblib",
        "config.yaml",
        "overrides.yaml",
        "predict.py",
        "profile.json",
    }
    assert metadata["input_schema"][0] == {"name": "sepal length (cm)", "kind": "numeric"}
    assert {"python", "scikit-learn", "pandas", "numpy", "hydra-core", "make-mlops-easy"} <= set(
        metadata["versions"]
    )
    assert metadata["run"]["random_state"] == 42
    assert metadata["deployment_time"].startswith("20")


def test_a_configured_filename_cannot_escape_the_deployment(compose, models_dir, tmp_path):
    from easy_mlops.errors import ConfigError

    for override in (
        "deployment.steps.save_model.filename=../model.joblib",
        "deployment.metadata_filename=sub/metadata.json",
        "deployment.endpoint_filename=/tmp/predict.py",
        "deployment.deployment_prefix=..",
    ):
        with pytest.raises(ConfigError, match="plain file name"):
            run_experiment(compose(override, "deployment.create_endpoint=true"))
    assert not models_dir.exists()
    assert not (tmp_path / "model.joblib").exists()
