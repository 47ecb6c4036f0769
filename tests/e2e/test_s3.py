"""deployment=s3 against a real S3 API (SeaweedFS on loopback): upload, failures, reading back."""

import json
import re
import secrets
import subprocess
import sys
import time

import pytest

from easy_mlops.deployment import ModelDeployer
from easy_mlops.deployment.storage import filesystem

from helpers import CLI, deployments, run_process


@pytest.fixture
def prefix():
    return f"team-{secrets.token_hex(4)}"


def s3_overrides(s3, prefix):
    return ["deployment=s3", f"deployment.s3.bucket={s3['bucket']}", f"deployment.s3.prefix={prefix}"]


def remote_files(uri):
    fs, path = filesystem(uri)
    return sorted(p[len(path) + 1 :] for p in fs.find(path))


def train_to_s3(cli, csv, s3, prefix, *extra):
    started = time.monotonic()
    result = cli("train", csv, *s3_overrides(s3, prefix), *extra)
    return result, time.monotonic() - started


def test_upload_copies_the_whole_deployment_and_records_the_uri(
    cli, s3, prefix, classification_csv, models_dir
):
    result, _ = train_to_s3(cli, classification_csv, s3, prefix)
    assert result.returncode == 0, result.stderr
    [deployment] = deployments(models_dir)
    uri = f"s3://{s3['bucket']}/{prefix}/{deployment.name}"
    local = json.loads((deployment / "metadata.json").read_text())
    assert local["artifacts"]["s3_uri"] == uri
    assert local["remote"] == {"uri": uri, "status": "uploaded"} and local["status"] == "deployed"
    uploaded = remote_files(uri)
    assert {
        "model.joblib",
        "preprocessor.joblib",
        "metadata.json",
        "config.yaml",
        "overrides.yaml",
        "logs/metrics_history.jsonl",
        "logs/alerts.jsonl",
    } <= set(uploaded)
    fs, path = filesystem(uri)
    remote = json.loads(fs.cat_file(f"{path}/metadata.json"))
    assert remote["artifacts"]["s3_uri"] == uri
    assert remote["files"] == local["files"]
    assert fs.cat_file(f"{path}/model.joblib") == (deployment / "model.joblib").read_bytes()


def test_reading_back_from_s3_through_the_cache(cli, s3, prefix, classification_csv, models_dir, tmp_path):
    assert train_to_s3(cli, classification_csv, s3, prefix)[0].returncode == 0
    [deployment] = deployments(models_dir)
    uri = f"s3://{s3['bucket']}/{prefix}/{deployment.name}"
    [unfetched] = json.loads(cli("list", f"s3://{s3['bucket']}/{prefix}", "--json").stdout)
    never_fetched = {"active_alerts": None, "total_predictions": None, "local_copy": None}
    assert {key: unfetched[key] for key in never_fetched} == never_fetched  # unknown on this machine

    model_data, preprocessor, metadata = ModelDeployer().load_deployed_model(uri)
    assert metadata["name"] == deployment.name and hasattr(model_data["model"], "predict")
    [cached] = (tmp_path / "cache" / "deployments").iterdir()
    first_fetch = (cached / "model.joblib").stat().st_mtime_ns

    local = cli("predict", classification_csv, deployment, "--no-log")
    remote = cli("predict", classification_csv, uri)
    assert remote.returncode == 0, remote.stderr
    assert json.loads(remote.stdout) == json.loads(local.stdout)
    assert f"logged locally in {cached / 'logs'}" in remote.stderr
    assert len((cached / "logs" / "predictions_log.jsonl").read_text().splitlines()) == 240
    assert (cached / "model.joblib").stat().st_mtime_ns == first_fetch  # the second use hit the cache
    assert len(list((tmp_path / "cache" / "deployments").iterdir())) == 1

    status = cli("status", uri, "--json")
    assert status.returncode == 0, status.stderr
    summary = json.loads(status.stdout)
    assert summary["deployment"]["name"] == deployment.name
    assert summary["predictions"]["total_predictions"] == 240
    assert summary["metrics"]["total_logs"] == 1

    listing = cli("list", f"s3://{s3['bucket']}/{prefix}", "--json")
    assert listing.returncode == 0, listing.stderr
    [row] = json.loads(listing.stdout)
    assert (row["name"], row["status"], row["directory"]) == (deployment.name, "deployed", uri)
    assert row["local_copy"] == str(cached)
    assert row["total_predictions"] == 240  # what `status URI` reports, from the cached copy
    assert row["active_alerts"] == len(summary["alerts"]["active_alerts"])
    table = cli("list", f"s3://{s3['bucket']}/{prefix}")
    assert re.search(rf"{deployment.name}.*\b240\b", table.stdout), table.stdout


def test_a_streamed_predict_logs_one_segment_beside_the_deployment_for_every_machine(
    cli, s3, prefix, classification_csv, models_dir, tmp_path, monkeypatch
):
    assert train_to_s3(cli, classification_csv, s3, prefix)[0].returncode == 0
    [deployment] = deployments(models_dir)
    uri = f"s3://{s3['bucket']}/{prefix}/{deployment.name}"

    streamed = cli("predict", classification_csv, uri, "--chunk-rows", "100", "-o", "out.json")

    assert streamed.returncode == 0, streamed.stderr
    assert "wrote 240 predictions to out.json (100 rows at a time)" in streamed.stderr
    [stored] = [path for path in remote_files(uri) if path.startswith("logs/segments/")]
    assert stored.endswith(".seg")
    monkeypatch.setenv("EASY_MLOPS_CACHE", str(tmp_path / "another-machine"))
    status = cli("status", uri, "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["predictions"]["total_predictions"] == 240


def test_an_upload_without_metadata_is_not_a_deployment(cli, s3, prefix, classification_csv, models_dir):
    assert train_to_s3(cli, classification_csv, s3, prefix)[0].returncode == 0
    [deployment] = deployments(models_dir)
    fs, _ = filesystem(f"s3://{s3['bucket']}")
    partial = f"{s3['bucket']}/{prefix}/deployment_19990101_000000"
    fs.put_file(str(deployment / "model.joblib"), f"{partial}/model.joblib")  # as if cut before the metadata
    listing = json.loads(cli("list", f"s3://{s3['bucket']}/{prefix}", "--json").stdout)
    assert [row["name"] for row in listing] == [deployment.name]
    result = cli("predict", classification_csv, f"s3://{partial}")
    assert result.returncode == 2
    assert "not a deployment" in result.stderr and result.stderr.strip().count("\n") == 0


@pytest.mark.parametrize("failure", ["unreachable", "missing_bucket", "denied"])
def test_failed_upload_keeps_a_complete_local_deployment_marked_upload_failed(
    cli, s3, prefix, classification_csv, models_dir, monkeypatch, failure
):
    overrides = s3_overrides(s3, prefix)
    expected = {
        "unreachable": "endpoint unreachable",
        "missing_bucket": "does not exist",
        "denied": "access denied",
    }
    bucket = s3["bucket"]
    if failure == "unreachable":
        overrides.append(f"deployment.s3.endpoint_url=http://127.0.0.1:{s3['closed_port']}")
    elif failure == "missing_bucket":
        bucket = "no-such-bucket"
        overrides.append(f"deployment.s3.bucket={bucket}")
    else:
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-" + s3["secret"])
    result = cli("train", classification_csv, *overrides)
    assert result.returncode == 2
    line = result.stderr.strip()
    assert line.count("\n") == 0 and f"bucket '{bucket}'" in line and expected[failure] in line, line
    [deployment] = deployments(models_dir)
    ModelDeployer().load_deployed_model(deployment)  # complete and intact
    metadata = json.loads((deployment / "metadata.json").read_text())
    assert metadata["status"] == "upload_failed" and metadata["remote"]["status"] == "failed"
    rows = json.loads(cli("list", models_dir, "--json").stdout)
    assert rows[0]["status"] == "upload_failed"
    assert json.loads(cli("status", deployment, "--json").stdout)["deployment"]["status"] == "upload_failed"

    if failure == "denied":  # the credentials are fixed: push again
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3["secret"])
        pushed = cli("push", deployment)
        assert pushed.returncode == 0, pushed.stderr
        metadata = json.loads((deployment / "metadata.json").read_text())
        assert metadata["status"] == "deployed" and metadata["remote"]["status"] == "uploaded"
        assert "metadata.json" in remote_files(metadata["remote"]["uri"])


def test_credentials_never_reach_a_file_or_the_output(s3, prefix, tmp_path, classification_csv):
    """Credentials from the environment and from ${oc.env:...} interpolation, grepped for everywhere."""
    env = {
        "AWS_ACCESS_KEY_ID": s3["key"],
        "AWS_SECRET_ACCESS_KEY": s3["secret"],
        "AWS_ENDPOINT_URL": s3["endpoint"],
        "EASY_MLOPS_CACHE": str(tmp_path / "cache"),
        "TEAM_S3_SECRET": s3["secret"],
    }
    result = run_process(
        [
            sys.executable,
            "-m",
            "easy_mlops.run",
            "data=csv",
            f"data.path={classification_csv}",
            *s3_overrides(s3, prefix),
            "+deployment.upload.storage_options.key=${oc.env:AWS_ACCESS_KEY_ID}",
            "+deployment.upload.storage_options.secret=${oc.env:TEAM_S3_SECRET}",
        ],
        tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    [deployment] = deployments(tmp_path / "models")
    predicted = run_process(
        [CLI, "predict", str(classification_csv), f"s3://{s3['bucket']}/{prefix}/{deployment.name}"],
        tmp_path,
        env=env,
    )
    assert predicted.returncode == 0, predicted.stderr
    snapshot = (deployment / "config.yaml").read_text()
    assert "secret: ${oc.env:TEAM_S3_SECRET}" in snapshot  # where it comes from, not what it is
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix not in (".csv",)]
    assert len(written) > 20
    for path in written:
        assert s3["secret"].encode() not in path.read_bytes(), path
    for text in (result.stdout, result.stderr, predicted.stdout, predicted.stderr):
        assert s3["secret"] not in text


def test_a_sweep_uploads_one_deployment_per_job(s3, prefix, tmp_path):
    env = {
        "AWS_ACCESS_KEY_ID": s3["key"],
        "AWS_SECRET_ACCESS_KEY": s3["secret"],
        "AWS_ENDPOINT_URL": s3["endpoint"],
    }
    result = run_process(
        [
            sys.executable,
            "-m",
            "easy_mlops.run",
            "-m",
            *s3_overrides(s3, prefix),
            "data=breast_cancer",
            "trainer=random_forest,logistic_regression",
        ],
        tmp_path,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    local = {p.name for p in deployments(tmp_path / "models")}
    fs, _ = filesystem(
        f"s3://{s3['bucket']}", {"endpoint_url": s3["endpoint"], "key": s3["key"], "secret": s3["secret"]}
    )
    remote = {p.rsplit("/", 1)[-1] for p in fs.ls(f"{s3['bucket']}/{prefix}", detail=False, refresh=True)}
    assert len(local) == 2 and remote == local


def test_without_s3fs_deployment_s3_says_which_extra_to_install(tmp_path, classification_csv):
    script = (
        "import sys; sys.modules['s3fs'] = None  # as if the extra were not installed\n"
        "from easy_mlops.cli import main; main()"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            "train",
            str(classification_csv),
            "deployment=s3",
            "deployment.s3.bucket=b",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "error: s3:// storage needs an extra package: pip install 'make-mlops-easy[s3]'"
    )
    assert not (tmp_path / "models").exists()


def test_the_server_started(s3_server):
    assert s3_server["startup_seconds"] < 60


def test_any_fsspec_url_works_the_same_way(cli, tmp_path, classification_csv, models_dir):
    shared = tmp_path / "shared"
    shared.mkdir()
    result = cli("train", classification_csv, f"deployment.upload.uri=file://{shared}")
    assert result.returncode == 0, result.stderr
    [deployment] = deployments(models_dir)
    copy = shared / deployment.name
    assert (copy / "metadata.json").is_file() and (copy / "model.joblib").read_bytes() == (
        deployment / "model.joblib"
    ).read_bytes()
    metadata = json.loads((deployment / "metadata.json").read_text())
    assert metadata["artifacts"]["remote_uri"] == f"file://{copy}" and "s3_uri" not in metadata["artifacts"]


def test_a_renamed_metadata_file_uploads_fetches_and_lists(cli, s3, prefix, classification_csv, models_dir):
    result, _ = train_to_s3(cli, classification_csv, s3, prefix, "deployment.metadata_filename=manifest.json")
    assert result.returncode == 0, result.stderr
    [deployment] = [p for p in models_dir.iterdir() if (p / "manifest.json").is_file()]
    uri = f"s3://{s3['bucket']}/{prefix}/{deployment.name}"
    assert "manifest.json" in remote_files(uri) and "metadata.json" not in remote_files(uri)
    remote = cli("predict", classification_csv, uri, "--no-log")
    assert remote.returncode == 0, remote.stderr
    assert len(json.loads(remote.stdout)["predictions"]) == 240
    status = cli("status", uri, "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["deployment"]["name"] == deployment.name
    [row] = json.loads(cli("list", f"s3://{s3['bucket']}/{prefix}", "--json").stdout)
    assert (row["name"], row["directory"]) == (deployment.name, uri)
