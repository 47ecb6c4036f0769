"""predict --engine ray: a partitioned dataset scored on a local Ray cluster, one task per partition,
a task killed mid-way retried, and each row predicted and logged exactly once."""

import json
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from easy_mlops.batch import partitions
from easy_mlops.config.compose import compose_config
from easy_mlops.deployment.storage import filesystem
from easy_mlops.pipeline import run_experiment

from helpers import CLI, deployments, free_port, make_classification_frame, run_process

PARTITIONS = 20
ROWS = 2000

# A forest whose predict kills its process the first time it finds the marker file: a worker
# dying mid-task, as on a lost node. Only one process can remove the file, so it happens once.
CRASH_ONCE = """
import os

from sklearn.ensemble import RandomForestClassifier


class CrashOnce(RandomForestClassifier):
    def predict(self, X):
        marker = os.environ.get("CRASH_ONCE_MARKER")
        if marker:
            try:
                os.unlink(marker)
            except FileNotFoundError:
                pass
            else:
                os._exit(1)
        return super().predict(X)
"""


@pytest.fixture
def ray_env(tmp_path):
    """Environment for a local Ray cluster started by the command: a short temporary folder (Ray's
    socket paths must fit in 107 bytes), no usage reporting, and the crashing model importable."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray"))
    (tmp_path / "crash_once.py").write_text(CRASH_ONCE)
    yield {
        "RAY_TMPDIR": str(ray_tmp),
        "RAY_AUTH_MODE": "disabled",
        "RAY_USAGE_STATS_ENABLED": "0",
        "PYTHONPATH": str(tmp_path),
    }
    shutil.rmtree(ray_tmp, ignore_errors=True)


def status(reference, cwd) -> dict:
    result = run_process([CLI, "status", str(reference), "--json"], cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def drift_scores(summary: dict) -> dict:
    drift = summary["drift"]
    return {
        "rows": drift["rows"],
        "features": {name: feature["score"] for name, feature in drift["features"].items()},
        "prediction": drift["prediction"]["score"],
    }


def test_twenty_partitions_on_ray_equal_one_process_row_for_row_with_a_task_killed(
    tmp_path, ray_env, monkeypatch, one_ray_cluster_at_a_time
):
    monkeypatch.syspath_prepend(str(tmp_path))
    data = tmp_path / "churn.csv"
    make_classification_frame(rows=400).to_csv(data, index=False)
    cfg = compose_config(
        [
            "data=csv",
            f"data.path={data}",
            f"deployment.output_dir={tmp_path / 'models'}",
            "trusted_modules=[crash_once]",
            "trainer.model._target_=crash_once.CrashOnce",
            "trainer.model.n_estimators=10",
        ]
    )
    deployment = Path(run_experiment(cfg)["deployment"]["deployment_dir"])
    single = Path(shutil.copytree(deployment, tmp_path / "single" / deployment.name))

    live = make_classification_frame(rows=ROWS, seed=9).drop(columns=["churn"])
    dataset = tmp_path / "dataset"
    for number in range(PARTITIONS):  # nested folders, as a partitioned dataset is laid out
        part = dataset / f"day={number % 4}" / f"part-{number:05d}.csv"
        part.parent.mkdir(parents=True, exist_ok=True)
        live.iloc[number * 100 : (number + 1) * 100].to_csv(part, index=False)
    files = sorted(dataset.rglob("*.csv"))
    pd.concat([pd.read_csv(path) for path in files]).to_csv(tmp_path / "all.csv", index=False)
    one = run_process([CLI, "predict", "all.csv", str(single), "-o", "single.json"], tmp_path, env=ray_env)
    assert one.returncode == 0, one.stderr

    marker = tmp_path / "kill-a-worker"
    marker.touch()
    command = [CLI, "predict", "dataset", str(deployment), "--engine", "ray", "-o", "scored"]
    batch = run_process(command, tmp_path, env={**ray_env, "CRASH_ONCE_MARKER": str(marker)}, timeout=300)
    assert batch.returncode == 0, batch.stderr
    assert not marker.exists()  # a worker died mid-task, and its partition was scored again
    assert f"wrote {ROWS:,} predictions of {PARTITIONS} partitions to scored" in batch.stderr

    outputs = [tmp_path / "scored" / path.relative_to(dataset) for path in files]
    predicted = pd.concat([pd.read_csv(path) for path in outputs])["prediction"].tolist()
    assert predicted == json.loads((tmp_path / "single.json").read_text())["predictions"]

    segments = sorted((deployment / "logs" / "segments").iterdir())
    assert len(segments) == PARTITIONS
    fleet, alone = status(deployment, tmp_path), status(single, tmp_path)
    assert fleet["predictions"]["total_predictions"] == ROWS == alone["predictions"]["total_predictions"]
    assert fleet["predictions"]["distribution"] == alone["predictions"]["distribution"]
    assert drift_scores(fleet) == drift_scores(alone)

    # The same job again (same output folder, same deployment), with class probabilities and tasks
    # reading 30 rows at a time: every partition's output and log segment is replaced, none is added,
    # so every row is still counted once.
    again = run_process([*command, "--proba", "--chunk-rows", "30"], tmp_path, env=ray_env, timeout=300)
    assert again.returncode == 0, again.stderr
    assert sorted((deployment / "logs" / "segments").iterdir()) == segments
    assert status(deployment, tmp_path)["predictions"]["total_predictions"] == ROWS
    one = run_process([CLI, "predict", "all.csv", str(single), "--proba", "--no-log"], tmp_path, env=ray_env)
    document = json.loads(one.stdout)
    scored = pd.concat([pd.read_csv(path) for path in outputs])
    assert scored["prediction"].tolist() == document["predictions"]
    columns = [f"probability_{label}" for label in document["classes"]]
    assert scored[columns].to_numpy().tolist() == document["probabilities"]


def test_engine_usage_errors_name_the_option(cli, classification_csv, models_dir, tmp_path):
    assert cli("train", classification_csv, "trainer.model.n_estimators=5").returncode == 0
    missing_output = cli("predict", str(tmp_path), "latest", "--engine", "ray")
    assert missing_output.returncode == 2 and "-o" in missing_output.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("predict", str(empty), "latest", "--engine", "ray", "-o", str(tmp_path / "out"))
    assert result.returncode == 2 and result.stderr.strip() == (
        f"error: {empty}: no data files (.parquet, .csv, .tsv, .json, .jsonl) under it"
    )
    without_engine = cli("predict", "empty", "latest", "-o", "out.json")
    assert without_engine.returncode == 2 and without_engine.stderr.strip() == (
        "error: empty: is a directory; a dataset split in files is scored with --engine ray -o FOLDER"
    )


@pytest.mark.parametrize(
    "output, problem",
    [
        ("churn.csv", "churn.csv: is a file; -o names the folder that gets a predictions file per partition"),
        ("churn.csv/scored", "churn.csv/scored: cannot write there ("),
        ("dataset/scored", "dataset/scored: is inside the dataset dataset; write the predictions elsewhere"),
    ],
)
def test_an_output_folder_that_cannot_be_one_is_refused_before_a_cluster_starts(
    cli, classification_csv, models_dir, tmp_path, output, problem
):
    assert cli("train", classification_csv, "trainer.model.n_estimators=5").returncode == 0
    (tmp_path / "dataset").mkdir()
    shutil.copy(classification_csv, tmp_path / "dataset" / "part-0.csv")
    result = cli("predict", "dataset", "latest", "--engine", "ray", "-o", output)
    assert result.returncode == 2 and result.stderr.startswith(f"error: {problem}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "dataset" / "scored").exists()


def test_one_file_is_one_partition_written_under_its_own_name(tmp_path):
    (tmp_path / "events.parquet").touch()
    [partition] = partitions(str(tmp_path / "events.parquet"), str(tmp_path / "scored"))
    assert partition.output == f"{tmp_path}/scored/events.parquet"
    assert partitions(str(tmp_path), "s3://bucket/scored")[0].output == "s3://bucket/scored/events.parquet"


def test_partitions_in_object_storage_are_scored_into_object_storage_once_each(
    cli, s3, tmp_path, models_dir, ray_env, one_ray_cluster_at_a_time
):
    """The command as run against a bucket: Parquet partitions under an ``s3://`` prefix, a deployment
    there too, outputs put there; run twice, each output and log segment is there once."""
    data = tmp_path / "churn.csv"
    make_classification_frame(rows=400).to_csv(data, index=False)
    bucket = s3["bucket"]
    overrides = ["deployment=s3", f"deployment.s3.bucket={bucket}", "deployment.s3.prefix=batch"]
    assert cli("train", data, "trainer.model.n_estimators=10", *overrides).returncode == 0
    [deployment] = deployments(models_dir)
    uri = f"s3://{bucket}/batch/{deployment.name}"
    live = make_classification_frame(rows=600, seed=5).drop(columns=["churn"])
    live.to_parquet(tmp_path / "all.parquet", index=False)
    fs, _ = filesystem(uri)
    for day in range(4):
        with fs.open(f"{bucket}/data/day={day}/part-0.parquet", "wb") as part:
            live.iloc[day * 150 : (day + 1) * 150].to_parquet(part, index=False)
    single = cli("predict", "all.parquet", uri, "--no-log")
    assert single.returncode == 0, single.stderr

    command = [CLI, "predict", f"s3://{bucket}/data/", uri, "--engine", "ray", "-o", f"s3://{bucket}/scored"]
    for _ in range(2):
        batch = run_process(command, tmp_path, env=ray_env, timeout=300)
        assert batch.returncode == 0, batch.stderr

    outputs = sorted(fs.find(f"{bucket}/scored"))
    assert outputs == [f"{bucket}/scored/day={day}/part-0.parquet" for day in range(4)]
    predicted = pd.concat([pd.read_parquet(fs.open(path)) for path in outputs])["prediction"].tolist()
    assert predicted == json.loads(single.stdout)["predictions"]
    assert len(fs.ls(f"{bucket}/batch/{deployment.name}/logs/segments")) == 4
    another_machine = {"EASY_MLOPS_CACHE": str(tmp_path / "another-machine")}
    summary = run_process([CLI, "status", uri, "--json"], tmp_path, env=another_machine)
    assert json.loads(summary.stdout)["predictions"]["total_predictions"] == 600, summary.stderr


def test_the_log_counts_the_rows_of_the_output_folder_whatever_the_dataset_became(
    tmp_path, ray_env, one_ray_cluster_at_a_time
):
    """Outputs and segments are keyed by file: an empty partition gets an empty output; a rerun after
    a file was emptied, another added and one removed still counts exactly the rows written."""
    data = tmp_path / "churn.csv"
    make_classification_frame(rows=400).to_csv(data, index=False)
    cfg = compose_config(["data=csv", f"data.path={data}", f"deployment.output_dir={tmp_path / 'models'}"])
    deployment = Path(run_experiment(cfg)["deployment"]["deployment_dir"])
    live = make_classification_frame(rows=400, seed=2).drop(columns=["churn"])
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    for day, rows in (("01", 100), ("02", 150), ("03", 0)):
        live.iloc[:rows].to_csv(dataset / f"day-{day}.csv", index=False)
    command = [CLI, "predict", "dataset", str(deployment), "--engine", "ray", "-o", "scored", "--proba"]
    header = "prediction,probability_no,probability_yes"

    def written_and_logged() -> tuple[int, int]:
        outputs = [pd.read_csv(path) for path in sorted((tmp_path / "scored").iterdir())]
        assert all(",".join(frame.columns) == header for frame in outputs)
        return sum(map(len, outputs)), status(deployment, tmp_path)["predictions"]["total_predictions"]

    first = run_process(command, tmp_path, env=ray_env, timeout=300)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "scored" / "day-03.csv").read_text().strip() == header
    assert written_and_logged() == (250, 250)

    live.iloc[:0].to_csv(dataset / "day-02.csv", index=False)  # emptied: its 150 rows are no more
    live.iloc[:70].to_csv(dataset / "day-00.csv", index=False)  # sorts first: every file's place shifts
    (dataset / "day-01.csv").unlink()  # gone from the data; its output and log stay
    again = run_process(command, tmp_path, env=ray_env, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "wrote 70 predictions of 3 partitions" in again.stderr
    assert written_and_logged() == (170, 170)


@pytest.mark.parametrize(
    "address, problem",
    [
        ("127.0.0.1:{port}", "no Ray cluster answers there (endpoint unreachable ("),
        ("headnode", "no Ray cluster answers there (give it as HOST:PORT)"),
        ("auto", "no running Ray cluster found (Could not find any running Ray instance"),
    ],
)
def test_an_address_where_no_cluster_answers_is_one_line_at_once(
    cli, classification_csv, tmp_path, ray_env, monkeypatch, one_ray_cluster_at_a_time, address, problem
):
    """Ray itself would retry a wrong address for minutes, printing as it goes."""
    for name, value in ray_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert cli("train", classification_csv, "trainer.model.n_estimators=5").returncode == 0
    (tmp_path / "dataset").mkdir()
    shutil.copy(classification_csv, tmp_path / "dataset" / "part-0.csv")
    address = address.format(port=free_port())

    result = cli("predict", "dataset", "latest", "--engine", "ray", "--address", address, "-o", "scored")

    assert result.returncode == 2 and result.stderr.startswith(f"error: --address {address}: {problem}")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "scored").exists()
