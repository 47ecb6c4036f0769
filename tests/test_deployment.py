"""Deployment directories: naming, atomic publication, failures, concurrency."""

import json
import multiprocessing
from datetime import UTC, datetime

import pytest

from easy_mlops.config.compose import compose_config
from easy_mlops.config.experiment import build_experiment
from easy_mlops.data.loaders import load_bundled
from easy_mlops.deployment import DeploymentStep, ModelDeployer
from easy_mlops.errors import DeploymentError
from easy_mlops.pipeline import run_experiment
from easy_mlops.training.trainer import train

from conftest import deployments

FORK = multiprocessing.get_context("fork")


NOON = datetime(2024, 1, 1, 12, 0, 0).astimezone(UTC)


def deploy_at_noon(trained, output, barrier, paths):
    """Wait for every process, then deploy with the same pinned clock: all claim the same name."""
    barrier.wait()
    paths.put(ModelDeployer({"output_dir": output}, clock=lambda: NOON).deploy(*trained)["deployment_dir"])


def test_parallel_processes_in_the_same_second_get_distinct_complete_deployments(tmp_path):
    output = tmp_path / "models"
    config = build_experiment(compose_config(["trainer.model.n_estimators=5"])).config
    trained = train(load_bundled("iris"), "target", config.preprocessing, config.trainer, "classification")
    barrier, paths = FORK.Barrier(4), FORK.Queue()
    processes = [
        FORK.Process(target=deploy_at_noon, args=(trained, output, barrier, paths)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    printed = [str(paths.get(timeout=120)) for _ in processes]
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    found = deployments(output)
    assert [str(p) for p in found] == sorted(printed)
    assert sorted(p.name for p in found) == [
        "deployment_20240101_120000",
        "deployment_20240101_120000_1",
        "deployment_20240101_120000_2",
        "deployment_20240101_120000_3",
    ]
    for deployment in found:
        metadata = json.loads((deployment / "metadata.json").read_text())
        ModelDeployer().load_deployed_model(deployment)  # checksums hold: nobody wrote into another's dir
        assert metadata["name"] == deployment.name
    assert [p.name for p in output.iterdir() if p.name.startswith(".")] == []


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
