"""The logs under ``logs/`` as the commands write them, and the ``status``, ``observe``, ``list`` and
``latest`` commands; concurrent writer processes lose and tear nothing.
"""

import json
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from easy_mlops.inference import predict_file
from easy_mlops.observability import ModelMonitor
from easy_mlops.status import deployment_status

from helpers import METRICS_LOG, PREDICTIONS_LOG, append_bytes, deployments, is_timestamp, read_jsonl, train

GUIDE_METRICS_KEYS = {"total_logs", "first_log", "last_log", "latest_metrics"}
GUIDE_PREDICTIONS_KEYS = {"total_predictions", "first_prediction", "last_prediction"}
LIST_KEYS = {"name", "version", "problem_type", "headline_metric", "active_alerts", "total_predictions"}


def metadata_of(deployment: Path) -> dict:
    return json.loads((deployment / "metadata.json").read_text())


def fake_staging_and_reservation(models: Path, source: Path) -> tuple[Path, Path]:
    """A hidden ``.name.partial`` staging copy dated far in the future, and an empty name reservation."""
    staging = models / ".deployment_29991231_235959.partial"
    shutil.copytree(source, staging)
    metadata = metadata_of(staging)
    metadata.update(name="deployment_29991231_235959", deployment_time="2999-12-31T23:59:59+00:00")
    (staging / "metadata.json").write_text(json.dumps(metadata))
    reservation = models / "deployment_29991231_235959"
    reservation.mkdir()
    (reservation / "logs").mkdir()
    return staging, reservation


# --------------------------------------------------------------------------- logs on disk


def test_train_and_predict_write_json_lines_logs(cli, classification_csv, models_dir, tmp_path):
    trained = cli("train", classification_csv)
    assert trained.returncode == 0, trained.stderr
    [deployment] = deployments(models_dir)
    metadata = metadata_of(deployment)

    [record] = read_jsonl(deployment / "logs" / METRICS_LOG)
    assert is_timestamp(record["timestamp"])
    assert record["model_version"] == metadata["version"] == "1.0.0"
    assert record["metrics"] == pytest.approx(metadata["metrics"])
    assert not (deployment / "logs" / PREDICTIONS_LOG).exists()

    predicted = cli("predict", classification_csv, deployment)
    assert predicted.returncode == 0, predicted.stderr
    predictions = json.loads(predicted.stdout)["predictions"]
    assert len(predictions) == 240
    records = read_jsonl(deployment / "logs" / PREDICTIONS_LOG)
    assert [r["prediction"] for r in records] == predictions  # one per row, in input order
    for r in records:
        assert is_timestamp(r["timestamp"]) and r["model_version"] == "1.0.0"

    # A second batch (rows reversed) is appended after the first, in its own order.
    reversed_csv = tmp_path / "reversed.csv"
    pd.read_csv(classification_csv).iloc[::-1].head(30).to_csv(reversed_csv, index=False)
    again = predict_file(reversed_csv, deployment)
    records = read_jsonl(deployment / "logs" / PREDICTIONS_LOG)
    assert len(records) == 270
    assert [r["prediction"] for r in records[:240]] == predictions
    assert [r["prediction"] for r in records[240:]] == again == predictions[::-1][:30]

    status = cli("status", deployment, "--json")
    assert status.returncode == 0, status.stderr
    summary = json.loads(status.stdout)
    assert GUIDE_METRICS_KEYS <= set(summary["metrics"])
    assert GUIDE_PREDICTIONS_KEYS <= set(summary["predictions"])
    assert summary["metrics"]["total_logs"] == 1
    assert summary["metrics"]["first_log"] == summary["metrics"]["last_log"] == record["timestamp"]
    assert summary["metrics"]["latest_metrics"] == pytest.approx(metadata["metrics"])
    assert summary["predictions"]["total_predictions"] == 270
    assert summary["predictions"]["first_prediction"] == records[0]["timestamp"]
    assert summary["predictions"]["last_prediction"] == records[-1]["timestamp"]
    distribution = summary["predictions"]["distribution"]
    assert distribution["kind"] == "classes"
    assert distribution["counts"] == dict(Counter(r["prediction"] for r in records))


def test_log_predictions_false_at_train_time_disables_prediction_logs(cli, classification_csv, models_dir):
    trained = cli("train", classification_csv, "observability.log_predictions=false")
    assert trained.returncode == 0, trained.stderr
    [deployment] = deployments(models_dir)
    predicted = cli("predict", classification_csv, deployment)
    assert predicted.returncode == 0, predicted.stderr
    assert len(json.loads(predicted.stdout)["predictions"]) == 240
    assert not (deployment / "logs" / PREDICTIONS_LOG).exists()
    assert len(read_jsonl(deployment / "logs" / METRICS_LOG)) == 1  # metrics are still tracked

    status = cli("status", deployment)
    assert status.returncode == 0, status.stderr
    assert "Prediction logging disabled" in status.stdout


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from easy_mlops.observability import ModelMonitor, PredictionsLoggerStep

    worker, log_dir, go = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    if worker % 2 == 0:
        monitor = ModelMonitor(log_dir=log_dir)
        log = monitor.log_predictions
    else:
        step = PredictionsLoggerStep()
        step.load(log_dir)
        log = step.on_log_predictions
    deadline = time.time() + 60
    while not go.exists() and time.time() < deadline:
        time.sleep(0.005)
    for batch in range(10):
        log([worker * 1_000_000 + batch * 1_000 + i for i in range(1_000)], f"w{worker}")
    """
)


def test_concurrent_writers_lose_and_tear_nothing(tmp_path):
    log_dir = tmp_path / "deployment" / "logs"
    log_dir.mkdir(parents=True)
    go = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(worker), str(log_dir), str(go)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(4)
    ]
    go.touch()  # all four start appending at once
    for writer in writers:
        _, stderr = writer.communicate(timeout=120)
        assert writer.returncode == 0, stderr

    raw = (log_dir / PREDICTIONS_LOG).read_bytes()
    assert raw.count(b"\n") == 40_000
    records = read_jsonl(log_dir / PREDICTIONS_LOG)  # every line valid JSON
    assert len(records) == 40_000
    values = [r["prediction"] for r in records]
    expected = {w * 1_000_000 + b * 1_000 + i for w in range(4) for b in range(10) for i in range(1_000)}
    assert set(values) == expected and len(set(values)) == 40_000
    for worker in range(4):
        mine = [v for v in values if v // 1_000_000 == worker]
        assert mine == sorted(mine), f"worker {worker}'s batches out of order"
        versions = {r["model_version"] for r in records if r["prediction"] // 1_000_000 == worker}
        assert versions == {f"w{worker}"}
    # Each batch of 1,000 was written in one piece, never interleaved with another.
    for start in range(0, 40_000, 1_000):
        batch = {v // 1_000 for v in values[start : start + 1_000]}
        assert len(batch) == 1, f"lines {start + 1}-{start + 1_000} mix batches {sorted(batch)}"

    summary = ModelMonitor(log_dir=log_dir).get_predictions_summary()
    assert summary["total_predictions"] == 40_000
    assert summary["distribution"]["kind"] == "numeric"
    assert summary["distribution"]["count"] == 40_000
    assert summary["distribution"]["mean"] == pytest.approx(sum(values) / 40_000)


# --------------------------------------------------------------------------- corrupted logs


def test_corrupted_lines_are_skipped_with_warnings_and_appends_stay_whole(
    cli, compose, classification_csv, tmp_path
):
    deployment = train(compose, classification_csv)
    predict_file(classification_csv, deployment)
    logs = deployment / "logs"
    append_bytes(logs / PREDICTIONS_LOG, b'{"timestamp": "x", "predi\n')
    append_bytes(logs / METRICS_LOG, b'{"timestamp": "x", "metr\n')

    status = cli("status", deployment, "--json")
    assert status.returncode == 0, status.stderr
    summary = json.loads(status.stdout)
    assert summary["predictions"]["total_predictions"] == 240
    assert summary["metrics"]["total_logs"] == 1
    assert summary["metrics"]["latest_metrics"] == pytest.approx(metadata_of(deployment)["metrics"])
    assert f"{PREDICTIONS_LOG} line 241" in status.stderr
    assert f"{METRICS_LOG} line 2" in status.stderr

    observed = cli("observe", deployment)
    assert observed.returncode == 0, observed.stderr
    assert "total predictions: 240" in observed.stdout
    assert "total logs:  1" in observed.stdout
    assert f"{PREDICTIONS_LOG} line 241" in observed.stderr
    assert f"{METRICS_LOG} line 2" in observed.stderr

    # A writer killed mid-line leaves a half line without a newline...
    append_bytes(logs / PREDICTIONS_LOG, b'{"timestamp": "y", "pred')
    append_bytes(logs / METRICS_LOG, b'{"timestamp": "y", "met')
    small = tmp_path / "small.csv"
    pd.read_csv(classification_csv).head(10).to_csv(small, index=False)
    predicted = cli("predict", small, deployment)
    assert predicted.returncode == 0, predicted.stderr
    ModelMonitor(log_dir=logs).log_metrics({"accuracy": 0.5}, model_version="1.0.1")

    # ...which must not swallow the next record.
    lines = (logs / PREDICTIONS_LOG).read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) - 1 == 252
    assert lines[240] == b'{"timestamp": "x", "predi'
    assert lines[241] == b'{"timestamp": "y", "pred'
    new = [json.loads(line) for line in lines[242:-1]]
    assert [r["prediction"] for r in new] == json.loads(predicted.stdout)["predictions"]
    metric_lines = (logs / METRICS_LOG).read_bytes().split(b"\n")
    assert metric_lines[2] == b'{"timestamp": "y", "met'
    assert json.loads(metric_lines[3])["metrics"] == {"accuracy": 0.5}

    summary = deployment_status(deployment)
    assert summary["predictions"]["total_predictions"] == 250
    assert summary["metrics"]["total_logs"] == 2
    assert summary["metrics"]["latest_metrics"] == {"accuracy": 0.5}


# --------------------------------------------------------------------------- status, observe, list, latest


def test_status_json_keys_and_fail_on_alert(cli, compose, classification_csv, models_dir):
    strict = cli("train", classification_csv, "observability=strict")
    assert strict.returncode == 0, strict.stderr
    [strict_dir] = deployments(models_dir)
    accuracy = metadata_of(strict_dir)["metrics"]["accuracy"]
    assert accuracy < 0.95, "the strict preset's accuracy threshold must be missed for this test"
    assert "ALERT" in strict.stdout

    status = cli("status", strict_dir, "--json")
    assert status.returncode == 0, status.stderr  # alerts only fail with --fail-on-alert
    summary = json.loads(status.stdout)
    assert GUIDE_METRICS_KEYS <= set(summary["metrics"])
    assert GUIDE_PREDICTIONS_KEYS <= set(summary["predictions"])
    assert summary["metrics"]["total_logs"] == 1
    assert summary["predictions"]["total_predictions"] == 0
    assert summary["predictions"]["first_prediction"] is None
    active = {alert["metric"]: alert for alert in summary["alerts"]["active_alerts"]}
    assert active["accuracy"]["threshold"] == 0.95
    assert active["accuracy"]["value"] == pytest.approx(accuracy)

    failing = cli("status", strict_dir, "--fail-on-alert")
    assert failing.returncode == 3, failing.stderr
    assert "ALERT" in failing.stdout and "accuracy" in failing.stdout

    tight = train(compose, classification_csv, "observability.alert_threshold=0.999")
    assert metadata_of(tight)["metrics"]["accuracy"] < 0.999
    failing = cli("status", tight, "--json", "--fail-on-alert")
    assert failing.returncode == 3, failing.stderr
    active = {alert["metric"]: alert for alert in json.loads(failing.stdout)["alerts"]["active_alerts"]}
    assert active["accuracy"]["threshold"] == 0.999

    relaxed = train(compose, classification_csv)
    assert metadata_of(relaxed)["metrics"]["accuracy"] >= 0.8
    passing = cli("status", relaxed, "--fail-on-alert")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "alerts: none active" in passing.stdout


def test_observe_writes_the_report_it_prints(cli, compose, classification_csv, tmp_path):
    deployment = train(compose, classification_csv)
    predict_file(classification_csv, deployment)
    observed = cli("observe", deployment, "-o", "report.txt")
    assert observed.returncode == 0, observed.stderr
    assert (tmp_path / "report.txt").read_text() == observed.stdout
    assert deployment.name in observed.stdout
    assert "total predictions: 240" in observed.stdout
    assert "total logs:  1" in observed.stdout
    # The same report body as ModelMonitor.generate_report() on the deployment's logs.
    from easy_mlops.deployment.metadata import read_snapshot_data

    monitor = ModelMonitor.from_snapshot(read_snapshot_data(deployment), deployment / "logs")
    programmatic = monitor.generate_report()
    assert observed.stdout.splitlines()[0] == programmatic.splitlines()[0] == "MODEL MONITORING REPORT"
    assert observed.stdout.splitlines()[1] == f"deployment {deployment.name}, version 1.0.0"
    assert observed.stdout.splitlines()[2:] == programmatic.splitlines()[1:]


def test_list_shows_finished_deployments_only(cli, compose, classification_csv, regression_csv, models_dir):
    classifier = train(compose, classification_csv, "observability.alert_threshold=0.999")
    regressor = train(compose, regression_csv)
    predict_file(classification_csv, classifier)
    fake_staging_and_reservation(models_dir, classifier)

    listed = cli("list", models_dir)
    assert listed.returncode == 0, listed.stderr
    assert classifier.name in listed.stdout and regressor.name in listed.stdout
    assert "29991231" not in listed.stdout

    listed = cli("list", models_dir, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == {classifier.name, regressor.name}
    for row in rows.values():
        assert LIST_KEYS <= set(row)

    classifier_metrics = metadata_of(classifier)["metrics"]
    row = rows[classifier.name]
    assert (row["version"], row["problem_type"], row["total_predictions"]) == ("1.0.0", "classification", 240)
    accuracy = pytest.approx(classifier_metrics["accuracy"])
    assert row["headline_metric"] == {"name": "accuracy", "value": accuracy}
    assert row["active_alerts"] == sum(value < 0.999 for value in classifier_metrics.values())

    r2 = metadata_of(regressor)["metrics"]["r2_score"]
    row = rows[regressor.name]
    assert (row["version"], row["problem_type"], row["total_predictions"]) == ("1.0.0", "regression", 0)
    assert row["headline_metric"] == {"name": "r2_score", "value": pytest.approx(r2)}
    assert row["active_alerts"] == int(r2 < 0.8)


def test_latest_is_the_newest_finished_deployment(cli, compose, classification_csv, models_dir, tmp_path):
    older = train(compose, classification_csv, "deployment.version=1.0.0")
    newer = train(compose, classification_csv, "deployment.version=2.0.0")
    staging, reservation = fake_staging_and_reservation(models_dir, newer)
    assert older != newer and metadata_of(older)["deployment_time"] < metadata_of(newer)["deployment_time"]

    status = cli("status", "latest", "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    deployment = json.loads(status.stdout)["deployment"]
    assert (deployment["name"], deployment["version"]) == (newer.name, "2.0.0")

    predicted = cli("predict", classification_csv, "latest", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    assert len(read_jsonl(newer / "logs" / PREDICTIONS_LOG)) == 240
    for other in (older, staging, reservation):
        assert not (other / "logs" / PREDICTIONS_LOG).exists(), other


def test_status_recreates_a_missing_logs_directory(cli, compose, classification_csv):
    deployment = train(compose, classification_csv)
    shutil.rmtree(deployment / "logs")
    status = cli("status", deployment, "--json")
    assert status.returncode == 0, status.stderr
    assert (deployment / "logs").is_dir()
    summary = json.loads(status.stdout)
    assert summary["metrics"]["total_logs"] == 0
    assert summary["predictions"]["total_predictions"] == 0
    predict_file(classification_csv, deployment)  # logging works again afterwards
    assert len(read_jsonl(deployment / "logs" / PREDICTIONS_LOG)) == 240


def test_names_print_as_written_never_as_markup_or_emoji(cli, classification_csv, tmp_path):
    folder = "models[red]:cat:"
    trained = cli(
        "train", classification_csv, f'deployment.output_dir="{folder}"', "trainer.model.n_estimators=5"
    )
    assert trained.returncode == 0, trained.stderr
    listing = cli("list", folder)
    assert f"Deployments in {folder}" in listing.stdout
    shown = cli("status", "latest", "--models", folder)
    assert f"{folder}/deployment_" in shown.stdout
    refused = cli("predict", classification_csv, "latest", "--models", folder, "-o", "away:cat:/out.json")
    assert refused.stderr.strip() == "error: away:cat:/out.json: output folder away:cat: does not exist"
