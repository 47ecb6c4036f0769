"""Many servers, one status: each server ships log segments to object storage (SeaweedFS on loopback),
and ``status`` from any machine sums them exactly, a ``kill -9`` included."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from easy_mlops.deployment.storage import filesystem

from helpers import (
    CLI,
    Server,
    assert_one_line_error,
    deployments,
    make_classification_frame,
    run_process,
)

SERVERS = 4
REQUESTS = 240  # spread over the servers, 1 to 3 rows each
# Ship only at start and stop, so a killed server surely leaves unshipped rows in its spool.
ONLY_AT_START_AND_STOP = ["observability.ship_every_s=3600", "observability.ship_every_rows=100000000"]


def status(uri: str, cache: Path, cwd: Path) -> dict:
    """``status --json`` as a machine with the cache ``cache`` sees it."""
    result = run_process([CLI, "status", uri, "--json"], cwd, env={"EASY_MLOPS_CACHE": str(cache)})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def spooled(cache: Path) -> tuple[int, int]:
    """(prediction lines, rows counted for drift) in the one deployment copy of a machine's cache."""
    [copy] = (cache / "deployments").iterdir()
    log = copy / "logs" / "predictions_log.jsonl"
    counts = copy / "logs" / "drift_counts.json"
    lines = log.read_bytes().count(b"\n") if log.exists() else 0
    hours = json.loads(counts.read_text())["hours"] if counts.exists() else {}
    return lines, sum(hour["rows"] for hour in hours.values())


def send(servers: list[Server], twin: Server, rows: list[dict]) -> list[int]:
    """The requests, spread over ``servers`` concurrently, each also sent to ``twin``; rows answered
    per server."""
    answered = [0] * len(servers)

    def request(number: int) -> None:
        size = 1 + number % 3
        body = {"dataframe_records": rows[number * 3 : number * 3 + size]}
        server = number % len(servers)
        response = servers[server].client.post("/invocations", json=body)
        assert response.status_code == 200, response.text
        answered[server] += size
        assert twin.client.post("/invocations", json=body).status_code == 200

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(request, range(REQUESTS)))
    return answered


def drift_scores(summary: dict) -> dict:
    drift = summary["drift"]
    features = {name: (f["score"], f["drifted"]) for name, f in drift["features"].items()}
    return {"rows": drift["rows"], "features": features, "prediction": drift["prediction"]["score"]}


def test_four_servers_on_one_s3_deployment_add_up_exactly_and_a_kill_9_loses_nothing(
    cli, s3, tmp_path, models_dir
):
    data = tmp_path / "churn.csv"
    make_classification_frame(rows=400).to_csv(data, index=False)
    common = ["trainer.model.n_estimators=10", *ONLY_AT_START_AND_STOP]
    bucket_prefix = f"s3://{s3['bucket']}/fleet"
    s3_overrides = ["deployment=s3", f"deployment.s3.bucket={s3['bucket']}", "deployment.s3.prefix=fleet"]
    assert cli("train", data, *common, *s3_overrides).returncode == 0
    [deployment] = deployments(models_dir)
    uri = f"{bucket_prefix}/{deployment.name}"
    # The same model, deployed only here: one server given all the traffic.
    assert cli("train", data, *common, f"deployment.output_dir={tmp_path / 'twin'}").returncode == 0
    [twin_dir] = deployments(tmp_path / "twin")

    live = make_classification_frame(rows=REQUESTS * 3, seed=7).drop(columns=["churn"])
    caches = [tmp_path / f"machine{i}" for i in range(SERVERS + 1)]
    servers = [Server(tmp_path, uri, env={"EASY_MLOPS_CACHE": str(cache)}) for cache in caches[:SERVERS]]
    twin = Server(tmp_path, str(twin_dir))
    try:
        answered = send(
            servers, twin, live.astype(object).where(live.notna(), None).to_dict(orient="records")
        )
        for server in servers[:-1]:
            assert server.stop()[0] == 0  # a stopping server ships what it logged
        deadline = time.monotonic() + 20
        while spooled(caches[SERVERS - 1]) != (answered[-1], answered[-1]) and time.monotonic() < deadline:
            time.sleep(0.2)  # written to the spool within a second of the last request
        assert spooled(caches[SERVERS - 1]) == (answered[-1], answered[-1])
        servers[-1].kill()

        fifth = caches[SERVERS]
        assert status(uri, fifth, tmp_path)["predictions"]["total_predictions"] == sum(answered[:-1])
        servers[-1] = Server(tmp_path, uri, env={"EASY_MLOPS_CACHE": str(caches[SERVERS - 1])})
        deadline = time.monotonic() + 20  # the restarted server ships what the killed one left
        while (fleet := status(uri, fifth, tmp_path))["predictions"]["total_predictions"] < sum(answered):
            assert time.monotonic() < deadline, fleet["predictions"]
            time.sleep(0.5)
    finally:
        for server in (*servers, twin):
            if server.process.poll() is None:
                server.stop()

    one = status(str(twin_dir), caches[SERVERS], tmp_path)
    assert (
        fleet["predictions"]["total_predictions"] == sum(answered) == one["predictions"]["total_predictions"]
    )
    assert fleet["predictions"]["distribution"] == one["predictions"]["distribution"]
    assert drift_scores(fleet) == drift_scores(one)
    assert fleet["drift"]["rows"] == sum(answered)
    # The training metrics were published once, not shipped again by every machine.
    assert fleet["metrics"]["total_logs"] == 1

    fs, path = filesystem(f"{uri}/logs/segments")
    segments = fs.ls(path, detail=False)
    # One per stopped server, one from the restarted server's start; its stop had nothing new to ship.
    assert len(segments) == SERVERS
    fetched = next((caches[SERVERS] / "deployments").iterdir())
    assert not (fetched / "logs" / "segments").exists()  # a copy fetches the artifacts, not the logs

    compacted = run_process([CLI, "logs", "compact", uri], tmp_path, env={"EASY_MLOPS_CACHE": str(fifth)})
    assert compacted.returncode == 0, compacted.stderr
    assert compacted.stdout.startswith(f"Compacted {SERVERS} segments ({sum(answered)} predictions)")
    assert len(fs.ls(path, detail=False, refresh=True)) == 1
    again = status(uri, fifth, tmp_path)
    assert again["predictions"] == fleet["predictions"] and drift_scores(again) == drift_scores(fleet)


def test_logs_commands_on_a_deployment_without_segments_say_so_in_one_line(
    cli, classification_csv, models_dir
):
    assert cli("train", classification_csv, "trainer.model.n_estimators=5").returncode == 0
    [deployment] = deployments(models_dir)
    for command, problem in (("compact", "no log segments"), ("ship", "no log location to ship to")):
        result = cli("logs", command, "latest")
        assert result.returncode == 2
        assert_one_line_error(result, f"{deployment.name}: {problem}", "observability.log_uri")


@pytest.mark.parametrize("command", ["ship", "compact"])
def test_logs_commands_report_what_they_did(cli, classification_csv, models_dir, tmp_path, command):
    shared = tmp_path / "shared"
    assert (
        cli(
            "train", classification_csv, f"observability.log_uri={shared}", "trainer.model.n_estimators=5"
        ).returncode
        == 0
    )
    assert cli("predict", classification_csv, "latest", "--no-log").returncode == 0
    [deployment] = deployments(models_dir)
    result = cli("logs", command, "latest")
    assert result.returncode == 0, result.stderr
    where = shared / deployment.name
    assert result.stdout.strip() == (
        f"Shipped nothing new to {where}"
        if command == "ship"
        else f"Nothing to compact: {where} holds one segment or none"
    )
