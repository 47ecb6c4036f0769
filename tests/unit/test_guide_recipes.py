"""The guide's "Deployment Configuration Recipes" as Hydra overrides, and composed from the guide.

Each recipe run through ``-c`` exactly as the guide writes it is in
tests/e2e/test_guide_examples.py; the recipes' commands in
tests/e2e/test_guide_recipes_commands.py.
"""

import json

import pytest

from easy_mlops.pipeline import run_experiment

from helpers import block_under, deployments

METADATA = block_under("### Controlling metadata content", "yaml")
RECIPES = [
    block_under(heading, "yaml")
    for heading in (
        "### Default timestamped deployments",
        "### Custom output location and naming",
        "### Bundling an endpoint helper script",
        "### Explicit step lists",
        "### Controlling metadata content",
    )
]


def test_custom_location_as_overrides(compose, tmp_path):
    cfg = compose(
        f"deployment.output_dir={tmp_path}/artifacts/churn",
        "deployment.deployment_prefix=churn_model",
        "deployment.metadata_filename=manifest.json",
    )
    artifacts = run_experiment(cfg)["deployment"]
    assert artifacts["deployment_dir"].startswith(f"{tmp_path}/artifacts/churn/churn_model_")
    assert artifacts["metadata_path"].endswith("/manifest.json")


def test_step_list_as_overrides(compose, models_dir):
    cfg = compose(
        "deployment.steps.save_metadata.filename=detailed_metadata.json",
        "deployment.steps.endpoint_script.enabled=true",
        "deployment.steps.endpoint_script.filename=predict.sh",
    )
    run_experiment(cfg)
    [deployment] = [p for p in models_dir.iterdir() if not p.name.startswith(".")]
    assert {"detailed_metadata.json", "predict.sh"} <= {p.name for p in deployment.iterdir()}


def test_null_switches_a_step_off(compose):
    cfg = compose("deployment.steps.save_preprocessor=null")
    assert "preprocessor_path" not in run_experiment(cfg)["deployment"]


def test_metadata_as_overrides(compose, models_dir):
    run_experiment(compose("deployment.version=2.1.0", "deployment.deployment_time='2024-05-01T09:00:00Z'"))
    [deployment] = deployments(models_dir)
    metadata = json.loads((deployment / "metadata.json").read_text())
    assert (metadata["version"], metadata["deployment_time"]) == ("2.1.0", "2024-05-01T09:00:00Z")


def test_command_line_overrides_win_over_the_config_file(compose, tmp_path):
    (tmp_path / "c.yaml").write_text(METADATA)
    cfg = compose("deployment.version=3.0.0", "trainer=mlp", config_file=tmp_path / "c.yaml")
    assert cfg.deployment.version == "3.0.0"
    assert cfg.deployment.deployment_time == "2024-05-01T09:00:00Z"
    assert cfg.trainer.estimators.classification == "sklearn.neural_network.MLPClassifier"


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_recipe_composes(compose, tmp_path, recipe):
    (tmp_path / "c.yaml").write_text(recipe)
    compose(config_file=tmp_path / "c.yaml")
