"""Deployment directories made by several processes in the same second: distinct names, each complete."""

import json
import multiprocessing

from easy_mlops.config.compose import compose_config
from easy_mlops.config.experiment import build_experiment
from easy_mlops.data.loaders import load_bundled
from easy_mlops.deployment import ModelDeployer
from easy_mlops.training.trainer import train

from helpers import NOON, deployments

FORK = multiprocessing.get_context("fork")


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
