"""tracking=mlflow against a real MLflow server (and a file store): runs, sweeps, the model, failures.

The server is ``mlflow server`` with a SQLite backend on a free loopback port
(``mlflow_server`` in tests/e2e/conftest.py); everything is read back through
``MlflowClient``, and the MLflow model is loaded and served by MLflow itself.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from helpers import BIN, deployments, free_port, run_process, stop, wait_for_http

mlflow = pytest.importorskip("mlflow", reason="the dev extras install mlflow-skinny")


from mlflow import MlflowClient  # noqa: E402

SECRET = "hunter2-xyz"


def client_for(uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def metadata_of(deployment: Path) -> dict:
    return json.loads((deployment / "metadata.json").read_text())


def only_deployment(models_dir: Path) -> Path:
    [deployment] = deployments(models_dir)
    return deployment


def our_predictions(cli, data: Path, deployment: Path) -> list:
    result = cli("predict", data, deployment, "--no-log")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["predictions"]


def test_a_run_has_the_config_metrics_tags_artifacts_and_a_registered_version(
    cli, mlflow_server, classification_csv, models_dir, tmp_path
):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "x"],
        cwd=tmp_path,
        check=True,
    )
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True)
    port = mlflow_server["uri"].rsplit(":", 1)[1]
    result = cli(
        "train",
        classification_csv,
        "tracking=mlflow",
        f"tracking.uri=http://alice:{SECRET}@127.0.0.1:{port}",  # credentials in the URL: masked
        "tracking.register_model=churn-model",
        f"+secrets.db_password={SECRET}",
        f"deployment.output_dir={models_dir}",
        "trainer.model.n_estimators=10",
    )
    assert result.returncode == 0, result.stderr
    deployment = only_deployment(models_dir)
    metadata = metadata_of(deployment)
    record = metadata["tracking"]
    assert record["status"] == "logged" and record["uri"] == f"http://alice:***@127.0.0.1:{port}"
    assert record["registered_model"] == {"name": "churn-model", "version": "1"}

    client = client_for(mlflow_server["uri"])
    run = client.get_run(record["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == deployment.name
    assert client.get_experiment(run.info.experiment_id).name == "churn"  # the data's name
    params = run.data.params
    assert params["trainer.model.n_estimators"] == "10"
    assert params["trainer.model._target_"] == "sklearn.ensemble.RandomForestClassifier"
    assert params["secrets.db_password"] == "***"
    assert run.data.metrics == pytest.approx(metadata["metrics"])
    tags = run.data.tags
    assert tags["easy_mlops.deployment"] == deployment.name
    assert tags["easy_mlops.version"] == metadata["version"]
    assert tags["easy_mlops.data_sha256"] == metadata["run"]["data"]["sha256"]
    assert "trainer.model.n_estimators=10" in tags["easy_mlops.overrides"]
    assert tags["mlflow.source.git.commit"] == commit.stdout.strip()
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"metadata.json", "config.yaml", "overrides.yaml", "model"} <= artifacts
    assert "model/MLmodel" in {item.path for item in client.list_artifacts(run.info.run_id, "model")}
    version = client.get_model_version("churn-model", "1")
    assert version.run_id == run.info.run_id
    assert version.tags["easy_mlops.deployment"] == deployment.name

    # No secret anywhere: params, tags, the downloaded artifacts, the deployment's own files.
    assert not any(SECRET in value for value in [*params.values(), *tags.values()])
    downloaded = Path(
        mlflow.artifacts.download_artifacts(run_id=run.info.run_id, tracking_uri=mlflow_server["uri"])
    )
    for folder in (downloaded, deployment):
        for path in folder.rglob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), path
    logged = json.loads((downloaded / "metadata.json").read_text())
    assert logged["tracking"]["run_id"] == run.info.run_id

    # The registered version, loaded by MLflow, predicts the original labels as `predict` does.
    os.environ["MLFLOW_TRACKING_URI"] = mlflow_server["uri"]
    try:
        registered = mlflow.pyfunc.load_model("models:/churn-model/1")
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]
    expected = our_predictions(cli, classification_csv, deployment)
    assert list(registered.predict(pd.read_csv(classification_csv))) == expected
    assert set(expected) == {"yes", "no"}
    assert cli("status", deployment).returncode == 0  # mlflow_model/ is checksummed with the rest


def test_mlflow_models_serve_answers_what_predict_answers(cli, classification_csv, models_dir, tmp_path):
    """deployment.mlflow_model=true alone (no tracking): MLflow's own server scores the deployment."""
    result = cli(
        "train", classification_csv, "deployment.mlflow_model=true", f"deployment.output_dir={models_dir}"
    )
    assert result.returncode == 0, result.stderr
    deployment = only_deployment(models_dir)
    assert "mlflow_model/MLmodel" in metadata_of(deployment)["files"]
    assert "tracking" not in metadata_of(deployment)
    local = mlflow.pyfunc.load_model(str(deployment / "mlflow_model"))
    frame = pd.read_csv(classification_csv)
    expected = our_predictions(cli, classification_csv, deployment)
    assert list(local.predict(frame)) == expected

    port = free_port()
    log_path = tmp_path / "serve.log"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # it runs uvicorn by name
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [str(BIN / "mlflow"), "models", "serve", "-m", str(deployment / "mlflow_model")]
            + ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", server, log_path)
        body = json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split"))})
        import urllib.request

        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answered = json.loads(response.read())["predictions"]
    finally:
        stop(server)
    assert answered == expected


def test_a_file_store_by_default_and_live_evaluations_as_steps(cli, classification_csv, models_dir, tmp_path):
    result = cli("train", classification_csv, "tracking=mlflow", f"deployment.output_dir={models_dir}")
    assert result.returncode == 0, result.stderr
    deployment = only_deployment(models_dir)
    record = metadata_of(deployment)["tracking"]
    store = (tmp_path / "mlruns").resolve().as_uri()  # ./mlruns where the command ran
    assert record["uri"] == store and (tmp_path / "mlruns").is_dir()
    client = client_for(store)
    assert client.get_run(record["run_id"]).info.status == "FINISHED"

    for _ in range(2):
        evaluated = cli("evaluate", classification_csv, deployment)
        assert evaluated.returncode == 0, evaluated.stderr
    history = client.get_metric_history(record["run_id"], "accuracy")
    assert sorted(point.step for point in history) == [0, 1, 2]  # training, then two live evaluations


@pytest.mark.parametrize("spelling", ["setting", "variable", "track --uri"])
def test_a_plain_path_is_a_file_store(cli, classification_csv, models_dir, tmp_path, monkeypatch, spelling):
    """``./mlruns`` as MLflow users write it, in each place a tracking URI is given."""
    settings = ["tracking.uri=./runs/mlruns"] if spelling == "setting" else []
    if spelling == "variable":
        monkeypatch.setenv("MLFLOW_TRACKING_URI", "runs/mlruns")
    tracking = ["tracking=mlflow"] if spelling != "track --uri" else []
    result = cli("train", classification_csv, *tracking, *settings, f"deployment.output_dir={models_dir}")
    assert result.returncode == 0, result.stderr
    deployment = only_deployment(models_dir)
    if spelling == "track --uri":
        tracked = cli("track", deployment, "--uri", "./runs/mlruns")
        assert tracked.returncode == 0, tracked.stderr
    record = metadata_of(deployment)["tracking"]
    store = (tmp_path / "runs" / "mlruns").resolve().as_uri()
    assert record["status"] == "logged" and record["uri"] == store
    assert client_for(store).get_run(record["run_id"]).info.status == "FINISHED"


def test_an_unreachable_server_keeps_the_deployment_and_track_logs_it_later(
    cli, mlflow_server, classification_csv, models_dir
):
    closed = f"http://127.0.0.1:{mlflow_server['closed_port']}"
    result = cli(
        "train",
        classification_csv,
        "tracking=mlflow",
        f"tracking.uri={closed}",
        f"deployment.output_dir={models_dir}",
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "server unreachable" in lines[0] and "make-mlops-easy track" in lines[0]
    assert "Traceback" not in result.stderr
    deployment = only_deployment(models_dir)
    # The deployment is complete: its metrics and where it is are shown before the tracking error.
    assert "Hold-out metrics (classification)" in result.stdout
    assert f"Deployment: {deployment}" in result.stdout
    assert cli("status", deployment).returncode == 0  # complete and verified
    record = metadata_of(deployment)["tracking"]
    assert record["status"] == "failed" and "server unreachable" in record["error"]
    shown = json.loads(cli("status", deployment, "--json").stdout)["deployment"]["tracking"]
    assert shown == record  # status says so too

    tracked = cli("track", deployment, "--uri", mlflow_server["uri"])
    assert tracked.returncode == 0, tracked.stderr
    record = metadata_of(deployment)["tracking"]
    assert record["status"] == "logged"
    assert f"MLflow run {record['run_id']}" in cli("status", deployment).stdout
    run = client_for(mlflow_server["uri"]).get_run(record["run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["easy_mlops.deployment"] == deployment.name


def tracked_sweep(hydra_app, server: dict, data: Path, tmp_path: Path, experiment: str, *overrides: str):
    """``python -m easy_mlops.run -m`` with tracking on, into ``experiment``; returns the process and
    the experiment's runs."""
    result = hydra_app(
        "-m",
        "data=csv",
        f"data.path={data}",
        "tracking=mlflow",
        f"tracking.uri={server['uri']}",
        f"tracking.experiment={experiment}",
        *overrides,
        f"deployment.output_dir={tmp_path / 'models'}",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )
    client = client_for(server["uri"])
    found = client.get_experiment_by_name(experiment)
    return result, client.search_runs([found.experiment_id]) if found else []


def test_a_sweep_is_a_parent_run_with_a_child_per_job(hydra_app, mlflow_server, classification_csv, tmp_path):
    sweep_dir = tmp_path / "sweep"
    result, runs = tracked_sweep(
        hydra_app,
        mlflow_server,
        classification_csv,
        tmp_path,
        "sweep-test",
        "trainer.model.n_estimators=5,10",
        "trainer.test_size=0.2,0.3",
    )
    assert result.returncode == 0, result.stderr
    parents = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert len(parents) == 1
    [parent] = parents
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 4 and all(run.info.status == "FINISHED" for run in children)
    assert sorted(run.data.tags["easy_mlops.job"] for run in children) == ["0", "1", "2", "3"]
    board = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["best_accuracy"] == board["rows"][0]["metrics"]["accuracy"]
    assert parent.data.tags["easy_mlops.sweep_dir"] == str(sweep_dir.resolve())


def test_a_failed_job_is_a_failed_child_run(hydra_app, mlflow_server, classification_csv, tmp_path):
    result, runs = tracked_sweep(
        hydra_app,
        mlflow_server,
        classification_csv,
        tmp_path,
        "failing-sweep",
        "trainer.model.n_estimators=5",
        "trainer.model.max_depth=-1,3",  # -1: scikit-learn refuses it when fitting
    )
    assert result.returncode == 2
    [parent] = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    children = {run.data.tags["easy_mlops.job"]: run for run in runs if run is not parent}
    assert (
        children["0"].info.status == "FAILED" and "max_depth" in children["0"].data.tags["easy_mlops.error"]
    )
    assert children["1"].info.status == "FINISHED"
    assert parent.info.status == "FAILED" and parent.data.tags["easy_mlops.failed_jobs"] == "1"


def test_training_without_tracking_imports_no_mlflow(classification_csv, tmp_path):
    code = (
        "import sys\nfrom easy_mlops.cli.main import main\n"
        f"sys.argv = ['make-mlops-easy', 'train', {str(classification_csv)!r}, 'deployment.output_dir=m']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        "print('MLFLOW' if 'mlflow' in sys.modules else 'NO-MLFLOW')\n"
    )
    result = run_process([sys.executable, "-c", code], tmp_path)
    assert result.stdout.strip().splitlines()[-1] == "NO-MLFLOW", result.stderr


def test_track_logs_a_deployment_made_without_tracking(cli, classification_csv, models_dir, tmp_path):
    """An untracked deployment (even one whose snapshot predates the tracking section) can be logged."""
    assert cli("train", classification_csv, f"deployment.output_dir={models_dir}").returncode == 0
    deployment = only_deployment(models_dir)
    config = deployment / "config.yaml"
    text = config.read_text()
    config.write_text(text[: text.index("\ntracking:\n")] + text[text.index("\ndeploy:") :])  # as made before
    tracked = cli("track", deployment)
    assert tracked.returncode == 0, tracked.stderr
    record = metadata_of(deployment)["tracking"]
    client = client_for((tmp_path / "mlruns").resolve().as_uri())  # ./mlruns: nothing configured
    assert client.get_run(record["run_id"]).data.tags["easy_mlops.deployment"] == deployment.name
    artifacts = {item.path for item in client.list_artifacts(record["run_id"])}
    assert {"config.yaml", "metadata.json"} <= artifacts and "model" not in artifacts  # no mlflow_model/
