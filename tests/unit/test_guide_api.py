"""The guide's Python API as scripts written against the original package call it.

Each test uses the API exactly as those scripts do: keyword names, return
shapes, custom steps with the guide's hooks, registries copied and restored.
"""

import json
from pathlib import Path

import pandas as pd
import pytest

from easy_mlops import DataPreprocessor, ModelDeployer, ModelMonitor
from easy_mlops.deployment import DeploymentStep
from easy_mlops.observability import ObservabilityStep

from helpers import make_classification_frame

# --------------------------------------------------------------------------- ModelMonitor


def test_log_prediction_takes_the_input_first_by_position_and_by_keyword(tmp_path):
    monitor = ModelMonitor({"log_predictions": True})
    monitor.log_prediction({"tenure": 3, "plan": "pro"}, "yes")
    monitor.log_prediction(input_data={"tenure": 40, "plan": "basic"}, prediction="no", model_version="2.0.0")
    monitor.log_prediction([1.5, 2.5], 0.75, "2.0.0", {"request_id": "r7"})
    log = monitor.predictions_log
    assert [r["prediction"] for r in log] == ["yes", "no", 0.75]
    assert [r["input"] for r in log] == [
        {"tenure": 3, "plan": "pro"},
        {"tenure": 40, "plan": "basic"},
        [1.5, 2.5],
    ]
    assert [r["model_version"] for r in log] == ["1.0.0", "2.0.0", "2.0.0"]
    assert log[2]["metadata"] == {"request_id": "r7"}
    paths = monitor.save_logs(tmp_path / "logs")
    assert paths == {
        "metrics": str(tmp_path / "logs" / "metrics_history.jsonl"),
        "predictions": str(tmp_path / "logs" / "predictions_log.jsonl"),
    }
    written = [json.loads(line) for line in Path(paths["predictions"]).read_text().splitlines()]
    assert written == log


class AuditStep(ObservabilityStep):
    """A step written for the guide: per-row hook, metrics hook, its own file."""

    name = "audit"

    def __init__(self, prefix="audit"):
        super().__init__()
        self.prefix = prefix
        self.rows = []
        self.metrics = []

    def on_log_metrics(self, metrics, model_version):
        self.metrics.append((dict(metrics), model_version))

    def on_log_prediction(self, input_data, prediction, model_version, metadata=None):
        self.rows.append((input_data, prediction, model_version, metadata))

    def save(self, output_dir):
        Path(output_dir, f"{self.prefix}.json").write_text(json.dumps({"rows": len(self.rows)}))

    def load(self, log_dir):
        path = Path(log_dir, f"{self.prefix}.json")
        self.loaded = json.loads(path.read_text()) if path.exists() else None


def test_a_guide_step_with_a_per_row_hook_works_unchanged(tmp_path):
    ModelMonitor.register_step(AuditStep)
    monitor = ModelMonitor({"steps": ["metrics_logger", "predictions_logger", "audit"]})
    monitor.log_metrics({"accuracy": 0.9}, model_version="1.2.0")
    monitor.log_prediction(input_data={"x": 1}, prediction="a", metadata={"m": 1})
    monitor.log_predictions(["b", "c"], "1.2.0", inputs=pd.DataFrame({"x": [2, 3]}))  # one call per row
    audit = monitor.get_step("audit")
    assert audit.metrics == [({"accuracy": 0.9}, "1.2.0")]
    assert audit.rows == [
        ({"x": 1}, "a", "1.0.0", {"m": 1}),
        ({"x": 2}, "b", "1.2.0", None),
        ({"x": 3}, "c", "1.2.0", None),
    ]
    monitor.save_logs(tmp_path)
    assert json.loads((tmp_path / "audit.json").read_text()) == {"rows": 3}
    fresh = ModelMonitor({"steps": ["metrics_logger", "predictions_logger", "audit"]})
    fresh.load_logs(tmp_path)
    assert fresh.get_step("audit").loaded == {"rows": 3}
    assert len(fresh.metrics_history) == 1 and len(fresh.predictions_log) == 3  # what the other one logged


def test_step_registry_is_a_name_to_class_mapping_that_can_be_copied_and_restored():
    original = ModelMonitor.STEP_REGISTRY.copy()
    assert original["metric_threshold"].__name__ == "MetricThresholdStep"
    try:
        ModelMonitor.STEP_REGISTRY = {**original, "audit": AuditStep}
        assert ModelMonitor({"steps": ["audit"]}).get_step("audit") is not None
    finally:
        ModelMonitor.STEP_REGISTRY = original
    with pytest.raises(ValueError, match="audit"):
        ModelMonitor({"steps": ["audit"]})
    deployer_original = ModelDeployer.STEP_REGISTRY.copy()
    assert set(deployer_original) >= {
        "create_directory",
        "save_model",
        "save_metadata",
        "endpoint_script",
        "upload",
    }


def test_summaries_report_and_step_specs():
    monitor = ModelMonitor(
        {"steps": ["metrics_logger", {"type": "metric_threshold", "params": {"default_threshold": 0.7}}]}
    )
    assert monitor.check_metric_threshold("accuracy", 0.69) is True
    assert monitor.check_metric_threshold("accuracy", 0.71) is False
    monitor.log_metrics({"accuracy": 0.71})
    assert monitor.get_metrics_summary()["latest_metrics"] == {"accuracy": 0.71}
    assert monitor.get_predictions_summary() == {"message": "Prediction logging disabled"}
    report = monitor.generate_report()
    for section in ("MODEL MONITORING REPORT", "METRICS SUMMARY", "PREDICTIONS SUMMARY"):
        assert section in report
    assert [record["metrics"] for record in monitor.metrics_history] == [{"accuracy": 0.71}]


# --------------------------------------------------------------------------- ModelDeployer


@pytest.fixture
def trained(tmp_path):
    frame = make_classification_frame()
    preprocessor = DataPreprocessor()
    features, target = preprocessor.prepare_data(frame, target_column="churn", fit=True)
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=500).fit(features, target)
    results = {"metrics": {"accuracy": 0.9}, "problem_type": "classification", "target_column": "churn"}
    return model, preprocessor, results


def test_deploy_with_an_endpoint_and_the_guide_artifact_keys(trained, tmp_path):
    deployer = ModelDeployer({"output_dir": str(tmp_path / "models")})
    artifacts = deployer.deploy(*trained, create_endpoint=True)
    assert (
        Path(artifacts["endpoint_path"]).name == "predict.py" and Path(artifacts["endpoint_path"]).is_file()
    )
    saved = deployer.save_deployment_artifacts(*trained, output_dir=str(tmp_path / "staging"))
    assert {"deployment_dir", "model_path", "preprocessor_path", "metadata_path"} <= set(saved)
    assert "endpoint_path" not in saved  # no script was asked for
    metadata = json.loads(Path(saved["metadata_path"]).read_text())
    assert metadata["model_path"] == saved["model_path"] and Path(metadata["model_path"]).is_absolute()
    assert metadata["preprocessor_path"] == saved["preprocessor_path"]
    assert metadata["training_results"]["metrics"] == {"accuracy": 0.9}
    assert metadata["training_results"]["problem_type"] == "classification"
    scripted = ModelDeployer(
        {
            "output_dir": str(tmp_path / "scripted"),
            "steps": [
                "create_directory",
                "save_model",
                "save_preprocessor",
                "save_metadata",
                "endpoint_script",
            ],
        }
    )
    assert Path(scripted.deploy(*trained)["endpoint_path"]).is_file()


def test_create_directory_with_a_prefix(trained, tmp_path):
    steps = [
        {"type": "create_directory", "params": {"prefix": "release"}},
        "save_model",
        "save_preprocessor",
        "save_metadata",
    ]
    artifacts = ModelDeployer({"output_dir": str(tmp_path), "steps": steps}).deploy(*trained)
    assert Path(artifacts["deployment_dir"]).name.startswith("release_")


def test_register_step_takes_a_class_defined_in_a_test(trained, tmp_path):
    class MarkerStep(DeploymentStep):
        name = "marker"

        def run(self, context):
            (context.deployment_dir / "MARKER").write_text("here")
            context.artifacts["marker"] = True

    ModelDeployer.register_step(MarkerStep)
    assert ModelDeployer.STEP_REGISTRY["marker"] is MarkerStep
    steps = ["create_directory", "save_model", "save_preprocessor", "save_metadata", "marker"]
    artifacts = ModelDeployer({"output_dir": str(tmp_path), "steps": steps}).deploy(*trained)
    assert (Path(artifacts["deployment_dir"]) / "MARKER").read_text() == "here"


def test_the_preprocessor_remembers_its_target_column(trained, tmp_path):
    _, preprocessor, _ = trained
    assert preprocessor.target_column == "churn"
    artifacts = ModelDeployer({"output_dir": str(tmp_path)}).deploy(*trained)
    _, loaded, _ = ModelDeployer().load_deployed_model(artifacts["deployment_dir"])
    assert loaded.target_column == "churn"


def test_data_preprocessor_with_no_arguments_prepares_text_columns():
    frame = pd.DataFrame(
        {"city": ["rome", "paris", "oslo"] * 10, "size": [1.0, 2.5, 3.0] * 10, "y": [0, 1, 1] * 10}
    )
    features, target = DataPreprocessor().prepare_data(frame, target_column="y", fit=True)
    assert features.shape == (30, 4)  # size scaled, city one-hot: the standard preset
    assert features[:, 0].mean() == pytest.approx(0.0) and list(target) == [0, 1, 1] * 10
    only_text = pd.DataFrame({"city": ["rome", "paris"] * 10, "y": [0, 1] * 10})
    assert DataPreprocessor().prepare_data(only_text, target_column="y", fit=True)[0].shape == (20, 2)
