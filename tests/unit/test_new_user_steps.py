"""Deployment steps a new user writes: the guide's upload step, a step class defined in a function."""

import json
from pathlib import Path

import pytest

from easy_mlops.deployment import DeploymentContext, DeploymentStep, ModelDeployer

# --------------------------------------------------------------------------- custom steps see the final name


PUSHED: list[str] = []


def push_directory_to_s3(directory: Path) -> str:
    """Stands for the user's own upload function of the guide's example."""
    PUSHED.append(sorted(p.name for p in directory.iterdir()))
    return f"s3://bucket/models/{directory.name}"


class UploadToS3Step(DeploymentStep):
    name = "upload_to_s3"

    def run(self, context: DeploymentContext) -> None:
        artifact_dir = context.deployment_dir
        uri = push_directory_to_s3(artifact_dir)
        context.artifacts["s3_uri"] = uri


def test_the_guides_upload_step_sees_the_final_name(pipeline_results, models_dir):
    PUSHED.clear()
    ModelDeployer.register_step(UploadToS3Step)
    try:
        steps = ["create_directory", "save_model", "save_preprocessor", "save_metadata", "upload_to_s3"]
        artifacts = ModelDeployer({"output_dir": str(models_dir), "steps": steps}).deploy(*pipeline_results)
    finally:
        ModelDeployer.STEP_REGISTRY.pop("upload_to_s3", None)
    name = artifacts["deployment_name"]
    assert artifacts["s3_uri"] == f"s3://bucket/models/{name}"
    metadata = json.loads((models_dir / name / "metadata.json").read_text())
    assert metadata["artifacts"]["s3_uri"] == f"s3://bucket/models/{name}"
    assert {"model.joblib", "preprocessor.joblib"} <= set(PUSHED[0])


@pytest.fixture
def pipeline_results(compose):
    from easy_mlops.config.experiment import build_experiment
    from easy_mlops.data.loaders import load_bundled
    from easy_mlops.training.trainer import train

    config = build_experiment(compose("trainer.model.n_estimators=5")).config
    return train(load_bundled("iris"), "target", config.preprocessing, config.trainer, "classification")


def test_a_step_class_defined_in_a_function_registers_and_runs(pipeline_results, models_dir):
    ran = []

    class MarkerStep(DeploymentStep):
        name = "marker"

        def run(self, context: DeploymentContext) -> None:
            ran.append(context.deployment_dir.name)

    ModelDeployer.register_step(MarkerStep)
    steps = ["create_directory", "save_model", "save_metadata", "marker"]
    artifacts = ModelDeployer({"output_dir": str(models_dir), "steps": steps}).deploy(*pipeline_results)
    assert ran == [artifacts["deployment_name"]]
