"""Deployment directories: naming, atomic publication, failures, concurrency."""

import json
import subprocess
import sys
import textwrap

import pytest

from easy_mlops.deployment import DeploymentStep, ModelDeployer
from easy_mlops.errors import DeploymentError
from easy_mlops.pipeline import run_experiment

from conftest import deployments

# Trains a small iris model, waits until all PROCESSES are ready, then deploys
# into OUTPUT early in the next wall-clock second, so they all hit the same one.
DEPLOY_TOGETHER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from easy_mlops.config.compose import compose_config
    from easy_mlops.data.loaders import load_bundled
    from easy_mlops.deployment import ModelDeployer
    from easy_mlops.training.trainer import train

    output, barrier, processes = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    cfg = compose_config(["trainer.model.n_estimators=5", "trainer.problem_type=classification"])
    model, preprocessor, results = train(load_bundled("iris"), "target", cfg.preprocessing, cfg.trainer)
    deployer = ModelDeployer({"output_dir": output})
    (barrier / str(time.time_ns())).touch()
    while len(list(barrier.iterdir())) < processes:
        time.sleep(0.01)
    time.sleep(1.05 - time.time() % 1)
    print(deployer.deploy(model, preprocessor, results)["deployment_dir"])
""")


def test_parallel_processes_in_the_same_second_get_distinct_complete_deployments(tmp_path):
    output, barrier = tmp_path / "models", tmp_path / "barrier"
    barrier.mkdir()
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", DEPLOY_TOGETHER, str(output), str(barrier), "4"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    printed = [p.communicate(timeout=120)[0].strip() for p in processes]
    assert all(p.returncode == 0 for p in processes)
    assert len(set(printed)) == 4
    found = deployments(output)
    assert [str(p) for p in found] == sorted(printed)
    stamps = {p.name[len("deployment_") :][:15] for p in found}
    suffixes = sorted(p.name[len("deployment_") + 15 :] for p in found)
    if len(stamps) == 1:  # the usual case: one second, suffixes _1.._3 after the bare name
        assert suffixes == ["", "_1", "_2", "_3"]
    for deployment in found:
        metadata = json.loads((deployment / "metadata.json").read_text())
        ModelDeployer().load_deployed_model(deployment)  # checksums hold: nobody wrote into another's dir
        assert metadata["name"] == deployment.name
    assert [p.name for p in output.iterdir() if p.name.startswith(".")] == []


def test_same_second_names_get_an_incrementing_suffix(compose, models_dir):
    names = [
        run_experiment(compose("trainer.model.n_estimators=5"))["deployment"]["deployment_name"]
        for _ in range(3)
    ]
    assert len(set(names)) == 3
    assert all(name.startswith("deployment_") for name in names)


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
    assert metadata["artifacts"]["endpoint_script"] == str(deployment / "predict.py")
    assert set(metadata["files"]) == {
        "model.joblib",
        "preprocessor.joblib",
        "config.yaml",
        "overrides.yaml",
        "predict.py",
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
