"""Every code block of the guide (``docs/guide.md``) runs as written, read from the guide itself.

YAML blocks are ``-c`` files of ``make-mlops-easy train``; Python blocks are
executed as they stand, with only what the guide leaves to the reader defined
beside them (``push_directory_to_s3``, ``send_to_slack``,
``trigger_notification``, each recording that it was called, and the
``ModelMonitor`` an earlier block imported).
"""

import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from easy_mlops.config.compose import compose_config
from easy_mlops.pipeline import run_experiment

from helpers import block_under, deployments, guide_blocks


@pytest.fixture
def trained(cli, tmp_path, classification_csv):
    def train_with(yaml_text: str, *overrides: str):
        (tmp_path / "guide.yaml").write_text(yaml_text)
        result = cli(
            "train", classification_csv, "-c", "guide.yaml", "trainer.model.n_estimators=5", *overrides
        )
        assert result.returncode == 0, result.stderr
        return result

    return train_with


def only(root: Path) -> Path:
    [deployment] = deployments(root) or [
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
    ]
    return deployment


# --------------------------------------------------------------------------- deployment recipes


def test_default_timestamped_deployments(trained, tmp_path):
    trained(block_under("### Default timestamped deployments", "yaml"))
    deployment = only(tmp_path / "models")
    assert deployment.name.startswith("deployment_")
    assert {"model.joblib", "preprocessor.joblib", "metadata.json", "logs"} <= {
        p.name for p in deployment.iterdir()
    }
    assert not (deployment / "predict.py").exists()  # create_endpoint is off by default


def test_custom_output_location_and_naming(trained, cli, tmp_path):
    trained(block_under("### Custom output location and naming", "yaml"))
    [deployment] = list((tmp_path / "artifacts" / "churn").iterdir())
    assert deployment.name.startswith("churn_model_")
    assert (deployment / "manifest.json").is_file() and not (deployment / "metadata.json").exists()
    status = cli("status", deployment, "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["deployment"]["name"] == deployment.name


def test_bundling_an_endpoint_helper_script(trained, tmp_path):
    recipe = block_under("### Bundling an endpoint helper script", "yaml")
    trained(recipe)
    script = only(tmp_path / "models") / "predict_sales.py"
    assert script.read_text() == textwrap.dedent(recipe.split("endpoint_template: |\n", 1)[1])


def test_explicit_step_lists(trained, tmp_path):
    trained(block_under("### Explicit step lists", "yaml"))
    names = {p.name for p in only(tmp_path / "models").iterdir()}
    assert {"detailed_metadata.json", "predict.sh", "model.joblib", "preprocessor.joblib"} <= names
    assert "metadata.json" not in names


def test_registering_custom_deployment_steps(trained, tmp_path):
    pushed = []

    def push_directory_to_s3(directory):
        pushed.append(directory.name)
        return f"s3://bucket/{directory.name}"

    exec(
        block_under("### Registering custom deployment steps", "python"),
        {"push_directory_to_s3": push_directory_to_s3},
    )
    trained(block_under("### Registering custom deployment steps", "yaml"))
    deployment = only(tmp_path / "models")
    assert pushed == [deployment.name]  # the step saw the final name
    metadata = json.loads((deployment / "metadata.json").read_text())
    assert metadata["artifacts"]["s3_uri"] == f"s3://bucket/{deployment.name}"


def test_controlling_metadata_content(trained, tmp_path):
    trained(block_under("### Controlling metadata content", "yaml"))
    metadata = json.loads((only(tmp_path / "models") / "metadata.json").read_text())
    assert (metadata["version"], metadata["deployment_time"]) == ("2.1.0", "2024-05-01T09:00:00Z")


def test_loading_artifacts(tmp_path, classification_csv, monkeypatch):
    noon = datetime(2024, 1, 1, 12, 0, 0).astimezone(UTC)
    cfg = compose_config(
        ["data=csv", f"data.path={classification_csv}", f"deployment.output_dir={tmp_path / 'models'}"]
    )
    run_experiment(cfg, clock=lambda: noon)
    (tmp_path / "data").mkdir()
    classification_csv.rename(tmp_path / "data" / "new_samples.csv")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(block_under("## Loading Artifacts", "python"), namespace)
    assert len(namespace["predictions"]) == 240 and set(namespace["predictions"]) <= {"yes", "no"}


# --------------------------------------------------------------------------- observability


def test_observability_defaults(trained, tmp_path):
    trained(block_under("## Observability Capabilities and Configuration", "yaml"))
    logs = only(tmp_path / "models") / "logs"
    assert (logs / "metrics_history.jsonl").is_file() and (logs / "alerts.jsonl").is_file()


def test_step_orchestration_with_steps(trained, tmp_path):
    trained(block_under("### Step Orchestration with `steps`", "yaml"))
    snapshot = (only(tmp_path / "models") / "config.yaml").read_text()
    assert "predictions_logger: null" in snapshot and "rmse: higher" in snapshot


def test_custom_steps_and_integrations(trained, tmp_path):
    sent = []
    exec(
        block_under("### Custom Steps and Integrations", "python"),
        {"send_to_slack": lambda metrics, version: sent.append((metrics["accuracy"], version))},
    )
    trained("observability:\n  steps: [metrics_logger, slack_alert]\n", "observability.alert_threshold=0.99")
    assert sent == []  # accuracy was above 0.7: nothing to say
    from easy_mlops.observability import ModelMonitor

    ModelMonitor({"steps": ["slack_alert"]}).log_metrics({"accuracy": 0.6}, "2.0.0")
    assert sent == [(0.6, "2.0.0")]


def test_complete_configuration_example(trained, tmp_path):
    trained(block_under("### Complete Configuration Example", "yaml"))
    snapshot = (only(tmp_path / "models") / "config.yaml").read_text()
    assert "precision: 0.75" in snapshot and "rmse: lower" in snapshot


def test_threshold_checks_and_reports():
    from easy_mlops.observability import ModelMonitor  # imported by the guide's earlier block

    notified = []
    namespace = {"ModelMonitor": ModelMonitor, "trigger_notification": lambda: notified.append(True)}
    exec(block_under("### Threshold Checks", "python"), namespace)
    assert notified == [True]  # 0.82 misses the per-metric 0.85
    exec(block_under("### Reports", "python"), namespace)
    assert "METRICS SUMMARY" in namespace["report"] and "PREDICTIONS SUMMARY" in namespace["report"]


def test_every_block_of_the_guide_is_covered():
    """A block added to the guide needs a test here: counted so it cannot be forgotten."""
    assert (len(guide_blocks("yaml")), len(guide_blocks("python"))) == (9, 5)
