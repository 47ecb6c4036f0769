"""The guide's Python API, as its snippets use it."""

import json
from pathlib import Path

import numpy as np
import pytest

from easy_mlops import MLOpsPipeline
from easy_mlops.config.config import Config, DeploymentConfig
from easy_mlops.deployment import DeploymentContext, DeploymentStep, ModelDeployer
from easy_mlops.errors import DeploymentError

from helpers import deployments


@pytest.fixture
def pipeline(models_dir):
    return MLOpsPipeline(overrides=[f"deployment.output_dir={models_dir}"])


def test_pipeline_run_deploys_and_returns_training_and_deployment(pipeline, classification_csv, models_dir):
    results = pipeline.run(classification_csv, target_column="churn")
    assert results["training"]["problem_type"] == "classification"
    assert "accuracy" in results["training"]["metrics"]
    [deployment] = deployments(models_dir)
    assert results["deployment"]["deployment_dir"] == str(deployment)
    overrides = json.loads((deployment / "metadata.json").read_text())["run"]["overrides"]
    assert "data.target='churn'" in overrides


def test_pipeline_run_without_deploy(pipeline, classification_csv, models_dir):
    results = pipeline.run(classification_csv, deploy=False)
    assert results["deployment"] == {}
    assert not models_dir.exists()


def test_pipeline_predict_matches_the_in_process_model(pipeline, classification_csv):
    deployment = pipeline.run(classification_csv)["deployment"]["deployment_dir"]
    predictions = pipeline.predict(classification_csv, deployment)
    deployer = ModelDeployer({"output_dir": "unused"})
    model_data, preprocessor, _ = deployer.load_deployed_model(deployment)
    frame = preprocessor.load_data(classification_csv)
    features, _ = preprocessor.prepare_data(frame.drop(columns=["churn"]), target_column=None, fit=False)
    assert predictions == model_data["model"].predict(features).tolist()


def test_config_as_dict_dictconfig_or_dataclass(models_dir, tmp_path):
    from omegaconf import OmegaConf

    as_dict = MLOpsPipeline(config={"deployment": {"output_dir": str(models_dir), "version": "9.9"}})
    assert as_dict.config.deployment.version == "9.9"
    as_dictconfig = MLOpsPipeline(config=OmegaConf.create({"deployment": {"version": "8.8"}}))
    assert as_dictconfig.config.deployment.version == "8.8"
    as_dataclass = MLOpsPipeline(config=Config(deployment=DeploymentConfig(version="7.7")))
    assert as_dataclass.config.deployment.version == "7.7"
    (tmp_path / "c.yaml").write_text("observability:\n  alert_threshold: 0.7\n")
    from_file = MLOpsPipeline(config_path=tmp_path / "c.yaml", overrides=["trainer=mlp"])
    assert from_file.config.observability.alert_threshold == 0.7
    assert from_file.config.trainer.model.hidden_layer_sizes == [64, 32]


def test_loading_artifacts_snippet(pipeline, classification_csv, tmp_path, monkeypatch):
    """The guide's "Loading Artifacts" snippet, verbatim but for the paths."""
    monkeypatch.chdir(tmp_path)
    deployment_dir = pipeline.run(classification_csv)["deployment"]["deployment_dir"]
    new_samples = tmp_path / "new_samples.csv"
    import pandas as pd

    pd.read_csv(classification_csv).drop(columns=["churn"]).head(12).to_csv(new_samples, index=False)

    deployer = ModelDeployer({"output_dir": "./models"})
    model_data, preprocessor, metadata = deployer.load_deployed_model(deployment_dir)
    df = preprocessor.load_data(str(new_samples))
    X, _ = preprocessor.prepare_data(df, target_column=None, fit=False)
    predictions = model_data["model"].predict(X)

    assert len(predictions) == 12
    assert metadata["version"] == "1.0.0"
    assert model_data["problem_type"] == "classification" and "metrics" in model_data


def trained(pipeline, csv):
    """A trained model, fitted preprocessor and results from a no-deploy run."""
    import pandas as pd

    from easy_mlops.config.experiment import build_experiment
    from easy_mlops.training.trainer import train

    config = build_experiment(pipeline.config).config
    return train(pd.read_csv(csv), "churn", config.preprocessing, config.trainer, "classification")


def test_deploy_with_create_endpoint_at_call_time(pipeline, classification_csv, tmp_path):
    model, preprocessor, results = trained(pipeline, classification_csv)
    deployer = ModelDeployer({"output_dir": str(tmp_path / "out")})
    with_script = deployer.deploy(model, preprocessor, results, create_endpoint=True)
    assert with_script["endpoint_path"].endswith("predict.py")
    deployer = ModelDeployer({"output_dir": str(tmp_path / "out"), "create_endpoint": True})
    without = deployer.deploy(model, preprocessor, results, create_endpoint=False)
    assert "endpoint_path" not in without


def test_save_deployment_artifacts_to_another_output_dir(pipeline, classification_csv, tmp_path):
    model, preprocessor, results = trained(pipeline, classification_csv)
    deployer = ModelDeployer({"output_dir": str(tmp_path / "models")})
    artifacts = deployer.save_deployment_artifacts(
        model, preprocessor, results, output_dir=tmp_path / "staging"
    )
    assert artifacts["deployment_dir"].startswith(str(tmp_path / "staging"))
    assert not (tmp_path / "models").exists()


def test_deploy_accepts_a_bare_estimator(pipeline, classification_csv, tmp_path):
    model, preprocessor, results = trained(pipeline, classification_csv)
    artifacts = ModelDeployer({"output_dir": str(tmp_path)}).deploy(model.estimator, preprocessor, results)
    model_data, _, _ = ModelDeployer().load_deployed_model(artifacts["deployment_dir"])
    assert model_data["problem_type"] == "classification"


class CopyElsewhereStep(DeploymentStep):
    """The guide's UploadToS3Step shape, pushing to a local folder instead."""

    name = "copy_elsewhere"

    def run(self, context: DeploymentContext) -> None:
        import shutil

        target = context.output_dir.parent / "pushed" / context.artifacts["deployment_name"]
        shutil.copytree(context.deployment_dir, target)
        context.artifacts["pushed_to"] = str(target)


def test_registered_step_runs_from_a_steps_list(pipeline, classification_csv, tmp_path):
    ModelDeployer.register_step(CopyElsewhereStep)
    model, preprocessor, results = trained(pipeline, classification_csv)
    steps = ["create_directory", "save_model", "save_preprocessor", "save_metadata", "copy_elsewhere"]
    artifacts = ModelDeployer({"output_dir": str(tmp_path / "models"), "steps": steps}).deploy(
        model, preprocessor, results
    )
    assert (tmp_path / "pushed" / artifacts["deployment_name"] / "model.joblib").is_file()
    metadata = json.loads((tmp_path / "models" / artifacts["deployment_name"] / "metadata.json").read_text())
    assert metadata["artifacts"]["pushed_to"] == artifacts["pushed_to"]


def test_registered_step_is_nameable_as_a_mapping_entry(compose):
    ModelDeployer.register_step(CopyElsewhereStep)
    cfg = compose("+deployment.steps.copy_elsewhere={}")
    deployer = ModelDeployer(cfg.deployment)
    assert isinstance(deployer.steps[-1], CopyElsewhereStep)


def test_register_step_rejects_non_steps():
    with pytest.raises(TypeError):
        ModelDeployer.register_step(dict)


def test_unknown_step_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="upload_to_mars"):
        ModelDeployer({"steps": ["create_directory", "upload_to_mars"]})


def test_missing_prerequisite_is_a_runtime_error(pipeline, classification_csv, tmp_path):
    model, preprocessor, results = trained(pipeline, classification_csv)
    deployer = ModelDeployer({"output_dir": str(tmp_path / "out"), "steps": ["save_model"]})
    with pytest.raises(RuntimeError, match="create_directory"):
        deployer.deploy(model, preprocessor, results)
    assert not (tmp_path / "out").exists()


def test_load_refuses_a_tampered_model(pipeline, classification_csv):
    deployment = pipeline.run(classification_csv)["deployment"]["deployment_dir"]
    with open(f"{deployment}/model.joblib", "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(DeploymentError, match="model.joblib"):
        ModelDeployer().load_deployed_model(deployment)
    model_data, _, _ = ModelDeployer().load_deployed_model(deployment, verify=False)
    assert hasattr(model_data["model"], "predict")


def test_predictions_are_one_per_row_in_order(pipeline, classification_csv, tmp_path):
    import pandas as pd

    deployment = pipeline.run(classification_csv)["deployment"]["deployment_dir"]
    frame = pd.read_csv(classification_csv).drop(columns=["churn"])
    shuffled = frame.sample(frac=1, random_state=5)
    shuffled.iloc[:40].to_csv(tmp_path / "a.csv", index=False)
    first = pipeline.predict(tmp_path / "a.csv", deployment)
    shuffled.iloc[:40].iloc[::-1].to_csv(tmp_path / "b.csv", index=False)
    reversed_ = pipeline.predict(tmp_path / "b.csv", deployment)
    assert first == reversed_[::-1]
    assert np.asarray(first).shape == (40,)


def test_class_probabilities_from_the_pipeline_and_the_deployment(pipeline, classification_csv, tmp_path):
    import pandas as pd

    from easy_mlops.deployment import Deployment
    from easy_mlops.errors import DeploymentError

    deployment = pipeline.run(classification_csv)["deployment"]["deployment_dir"]
    frame = pd.read_csv(classification_csv).drop(columns=["churn"]).iloc[:30]
    frame.to_csv(tmp_path / "new.csv", index=False)
    document = pipeline.predict(tmp_path / "new.csv", deployment, proba=True)
    loaded = Deployment.load(deployment)
    features = loaded.preprocessor.transform(frame)
    assert document == {
        "predictions": loaded.model.predict(features).tolist(),
        "classes": ["no", "yes"],
        "probabilities": loaded.model.predict_proba(features).tolist(),
    }
    assert loaded.classes.tolist() == document["classes"]
    assert loaded.predict_proba(frame).tolist() == document["probabilities"]
    assert pipeline.predict(tmp_path / "new.csv", deployment) == document["predictions"]
    logged = Path(deployment) / "logs" / "predictions_log.jsonl"
    assert [json.loads(line)["prediction"] for line in logged.read_text().splitlines()] == 2 * document[
        "predictions"
    ]

    regression = MLOpsPipeline(
        overrides=[
            f"deployment.output_dir={tmp_path / 'reg'}",
            "data=diabetes",
            "trainer.model.n_estimators=5",
        ]
    )
    regressor = Deployment.load(regression.run()["deployment"]["deployment_dir"])
    with pytest.raises(DeploymentError, match="a regression deployment predicts numbers"):
        regressor.predict_proba(frame)  # refused before the (unfitting) frame is even looked at
