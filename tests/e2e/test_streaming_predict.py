"""predict of a file larger than memory: read, scored and written a chunk of rows at a time.

The streamed output is the whole-file output byte for byte, its log (one
segment, stored once the output was delivered) sums to what a whole-file
``predict`` logs, a file that breaks half-way delivers and logs nothing, and
peak memory does not grow with the file.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import CLI, customers, run_process

CHUNK = "700"  # rows per chunk: the 3,000-row live file is read in five chunks


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A deployment of a churn model over every kind of column (numbers, a category, a date, a
    checkbox), with drift monitoring; copied afresh for each test."""
    folder = tmp_path_factory.mktemp("trained")
    customers(rows=400).to_csv(folder / "customers.csv", index=False)
    result = run_process([CLI, "train", "customers.csv", "--target", "churn"], folder)
    assert result.returncode == 0, result.stderr
    return next((folder / "models").iterdir())


def twin_deployments(trained: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Two copies of one deployment: one logs a whole-file predict, the other a streamed one."""
    return shutil.copytree(trained, tmp_path / "whole"), shutil.copytree(trained, tmp_path / "streamed")


def live_customers(rows: int = 3000) -> pd.DataFrame:
    """Live rows where whole chunks lack a value (the checkbox never ticked in the first 700 rows,
    the fee missing in rows 1400-2099): a chunk's columns then read with other types than the file's."""
    frame = customers(rows=rows, seed=7).drop(columns="churn")
    frame.loc[:699, "autopay"] = None
    frame.loc[1400:2099, "monthly_fee"] = np.nan
    return frame


def write_as(frame: pd.DataFrame, path: Path) -> Path:
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":  # with decimal commas, detected from the file's start
        frame.to_csv(path, index=False, sep="\t", decimal=",")
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif suffix == ".json":
        frame.to_json(path, orient="records")
    else:
        frame.to_parquet(path, index=False, row_group_size=500)
    return path


def status(cli, deployment: Path) -> dict:
    result = cli("status", deployment, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def total_logged(cli, deployment: Path) -> int:
    return status(cli, deployment)["predictions"].get("total_predictions", 0)


def logged(cli, deployment: Path) -> dict:
    """What ``status`` reports of a deployment's predictions and drift, timestamps left out."""
    summary = status(cli, deployment)
    predictions = {
        key: value
        for key, value in summary["predictions"].items()
        if key not in ("first_prediction", "last_prediction", "recent_predictions")
    }
    drift = summary["drift"]
    verdicts = {name: (feature["score"], feature["drifted"]) for name, feature in drift["features"].items()}
    verdicts["(predictions)"] = (drift["prediction"]["score"], drift["prediction"]["drifted"])
    alerts = [alert["metric"] for alert in summary["alerts"]["active_alerts"]]
    return {"predictions": predictions, "rows": drift["rows"], "drift": verdicts, "alerts": alerts}


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet"])
def test_streamed_predictions_and_logs_equal_the_whole_files(cli, trained, tmp_path, suffix):
    whole, streamed = twin_deployments(trained, tmp_path)
    data = write_as(live_customers(), tmp_path / f"live{suffix}")

    at_once = cli("predict", data, whole, "-o", "whole.json")
    chunked = cli("predict", data, streamed, "--chunk-rows", CHUNK, "-o", "streamed.json")

    assert at_once.returncode == 0 and chunked.returncode == 0, at_once.stderr + chunked.stderr
    assert "wrote 3,000 predictions to streamed.json (700 rows at a time)" in chunked.stderr
    assert (tmp_path / "streamed.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
    assert len(json.loads((tmp_path / "streamed.json").read_text())["predictions"]) == 3000
    # One segment, stored beside the deployment's own logs, sums to the whole file's log.
    assert len(list((streamed / "logs" / "segments").glob("*.seg"))) == 1
    assert not (streamed / "logs" / "predictions_log.jsonl").exists()
    assert logged(cli, streamed) == logged(cli, whole)
    assert total_logged(cli, streamed) == 3000


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_json_records_that_leave_out_empty_keys_stream_as_a_whole_file_reads_them(
    cli, trained, tmp_path, suffix
):
    """Records that leave a key out rather than write null (as many APIs do): the checkbox is in no
    record of the first chunk, the fee in none of the third."""
    whole, streamed = twin_deployments(trained, tmp_path)
    records = json.loads(live_customers().to_json(orient="records"))
    records = [{key: value for key, value in record.items() if value is not None} for record in records]
    assert not any("autopay" in record for record in records[:700])
    data = tmp_path / f"live{suffix}"
    data.write_text("\n".join(map(json.dumps, records)) if suffix == ".jsonl" else json.dumps(records))

    at_once = cli("predict", data, whole, "-o", "whole.json")
    chunked = cli("predict", data, streamed, "--chunk-rows", CHUNK, "-o", "streamed.json")

    assert at_once.returncode == 0 and chunked.returncode == 0, at_once.stderr + chunked.stderr
    assert (tmp_path / "streamed.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
    assert logged(cli, streamed) == logged(cli, whole)


def test_streamed_probabilities_equal_the_whole_files_and_stdout_streams_too(cli, trained, tmp_path):
    whole, streamed = twin_deployments(trained, tmp_path)
    data = write_as(live_customers(), tmp_path / "live.csv")

    at_once = cli("predict", data, whole, "--proba", "-o", "whole.json")
    chunked = cli("predict", "--chunk-rows", CHUNK, "--proba", data, streamed, "-o", "streamed.json")
    to_stdout = cli("predict", data, streamed, "--proba", "--no-log", "--chunk-rows", CHUNK)

    assert at_once.returncode == chunked.returncode == to_stdout.returncode == 0, chunked.stderr
    expected = (tmp_path / "whole.json").read_text()
    assert (tmp_path / "streamed.json").read_text() == expected
    assert to_stdout.stdout == expected
    document = json.loads(expected)
    assert len(document["probabilities"]) == len(document["predictions"]) == 3000
    assert logged(cli, streamed) == logged(cli, whole)  # --no-log logged nothing more


@pytest.mark.parametrize(
    "switched_off", ["observability.log_predictions=false", "observability.drift.enabled=false"]
)
def test_what_the_config_switched_off_stays_off_when_streamed(cli, tmp_path, switched_off):
    customers(rows=400).to_csv(tmp_path / "customers.csv", index=False)
    assert cli("train", "customers.csv", "--target", "churn", switched_off).returncode == 0
    trained = next((tmp_path / "models").iterdir())
    whole, streamed = twin_deployments(trained, tmp_path)
    data = write_as(live_customers(), tmp_path / "live.csv")

    assert cli("predict", data, whole, "-o", "whole.json").returncode == 0
    assert cli("predict", data, streamed, "--chunk-rows", CHUNK, "-o", "streamed.json").returncode == 0

    expected, got = status(cli, whole), status(cli, streamed)
    timeless = ("first_prediction", "last_prediction", "recent_predictions")
    assert {k: v for k, v in got["predictions"].items() if k not in timeless} == {
        k: v for k, v in expected["predictions"].items() if k not in timeless
    }
    assert {key: got["drift"][key] for key in ("rows", "enabled") if key in got["drift"]} == {
        key: expected["drift"][key] for key in ("rows", "enabled") if key in expected["drift"]
    }
    if switched_off.startswith("observability.log_predictions"):
        assert got["predictions"]["enabled"] is False and got["drift"]["rows"] == 3000
    else:
        assert got["predictions"]["total_predictions"] == 3000 and "rows" not in got["drift"]


def test_a_file_that_breaks_half_way_delivers_nothing_and_logs_nothing(cli, trained, tmp_path):
    _, streamed = twin_deployments(trained, tmp_path)
    data = write_as(live_customers(), tmp_path / "live.csv")
    lines = data.read_text().splitlines(keepends=True)
    lines[2500] = lines[2500].rstrip("\n") + ",surplus,fields\n"  # in the fourth chunk
    data.write_text("".join(lines))
    previous = tmp_path / "out.json"
    previous.write_text('{"predictions": ["kept"]}\n')

    result = cli("predict", data, streamed, "--chunk-rows", CHUNK, "-o", previous)

    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "live.csv: cannot parse as CSV" in error[0] and "line 2501" in error[0]
    assert previous.read_text() == '{"predictions": ["kept"]}\n'
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".out")) == []
    to_stdout = cli("predict", data, streamed, "--chunk-rows", CHUNK)
    assert to_stdout.returncode == 2 and to_stdout.stdout == "", to_stdout.stdout[:200]
    assert not (streamed / "logs" / "segments").exists()
    assert total_logged(cli, streamed) == 0


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet"])
def test_a_bad_value_in_a_later_chunk_is_named_by_its_row_in_the_file(cli, trained, tmp_path, suffix):
    _, streamed = twin_deployments(trained, tmp_path)
    frame = live_customers()
    frame["signup"] = frame["signup"].astype(str)
    frame.loc[2500, "signup"] = "someday"  # in the fourth chunk
    data = write_as(frame, tmp_path / f"live{suffix}")

    at_once = cli("predict", data, streamed, "--no-log")
    chunked = cli("predict", data, streamed, "--chunk-rows", CHUNK)

    assert at_once.returncode == chunked.returncode == 2
    assert "found 'someday' in row 2501" in at_once.stderr
    assert chunked.stderr == at_once.stderr and chunked.stdout == ""


def test_an_unreachable_log_location_keeps_the_segment_until_shipped(cli, tmp_path):
    customers(rows=400).to_csv(tmp_path / "customers.csv", index=False)
    location = tmp_path / "fleet-logs"
    trained = cli("train", "customers.csv", "--target", "churn", f"observability.log_uri={location}")
    assert trained.returncode == 0, trained.stderr
    deployment = next((tmp_path / "models").iterdir())
    data = write_as(live_customers(), tmp_path / "live.csv")
    location.write_text("a file where the log folder should be\n")  # the location cannot be written

    result = cli("predict", data, "latest", "--chunk-rows", CHUNK, "-o", "out.json")

    assert result.returncode == 0, result.stderr
    assert "could not store the log segment in" in result.stderr and "shipped next time" in result.stderr
    assert len(list((deployment / "logs" / "segments").glob("*.seg"))) == 1

    location.unlink()
    shipped = cli("logs", "ship", deployment)

    assert shipped.returncode == 0, shipped.stderr
    assert list((deployment / "logs" / "segments").glob("*.seg")) == []
    assert len(list(location.glob(f"{deployment.name}/*.seg"))) == 1
    assert total_logged(cli, deployment) == 3000  # counted once


# An observability step of the user's own: it writes down every row it is given, with its input.
ROW_WITNESS = """
import json

from easy_mlops.observability.steps import ObservabilityStep


class RowWitness(ObservabilityStep):
    def __init__(self, path, enabled=True):
        super().__init__(enabled)
        self.path = path

    def on_log_prediction(self, input_data, prediction, model_version, metadata=None):
        with open(self.path, "a") as seen:
            seen.write(json.dumps([input_data["tenure_months"], prediction, metadata["source"]]) + "\\n")
"""


def test_a_step_of_the_users_own_sees_every_delivered_row_once_and_no_other(cli, tmp_path, monkeypatch):
    (tmp_path / "row_witness.py").write_text(ROW_WITNESS)
    monkeypatch.syspath_prepend(str(tmp_path))
    customers(rows=400).to_csv(tmp_path / "customers.csv", index=False)
    seen = tmp_path / "seen.jsonl"
    trained = cli(
        "train",
        "customers.csv",
        "--target",
        "churn",
        "+observability.steps.witness._target_=row_witness.RowWitness",
        f"+observability.steps.witness.path={seen}",
        "trusted_modules=[row_witness]",
    )
    assert trained.returncode == 0, trained.stderr
    live = live_customers()
    data = write_as(live, tmp_path / "live.csv")

    result = cli("predict", data, "latest", "--chunk-rows", CHUNK, "-o", "out.json")

    assert result.returncode == 0, result.stderr
    predictions = json.loads((tmp_path / "out.json").read_text())["predictions"]
    rows = [json.loads(line) for line in seen.read_text().splitlines()]
    assert rows == [[int(t), p, str(data)] for t, p in zip(live["tenure_months"], predictions, strict=True)]

    seen.unlink()
    lines = data.read_text().splitlines(keepends=True)
    lines[2500] = lines[2500].rstrip("\n") + ",surplus,fields\n"
    data.write_text("".join(lines))
    assert cli("predict", data, "latest", "--chunk-rows", CHUNK, "-o", "out.json").returncode == 2
    assert not seen.exists()  # told nothing of a run that delivered nothing


def test_files_over_the_threshold_are_streamed_without_asking(cli, trained, tmp_path, monkeypatch):
    import easy_mlops.inference

    monkeypatch.setattr(easy_mlops.inference, "STREAM_ABOVE_BYTES", 1024)
    data = write_as(live_customers(), tmp_path / "live.csv")

    result = cli("predict", data, shutil.copytree(trained, tmp_path / "d"), "-o", "out.json")

    assert result.returncode == 0, result.stderr
    assert "wrote 3,000 predictions to out.json (100,000 rows at a time)" in result.stderr


def peak_mib(args: list, cwd: Path) -> float:
    """Peak resident memory of a command, in MiB, measured by a process of its own that runs it
    (Linux reports it in KiB)."""
    measure = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True, capture_output=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", measure, *map(str, args)], cwd=cwd, capture_output=True, text=True, check=True
    )
    return int(result.stdout) / 1024


def test_streaming_memory_is_bounded_by_the_chunk_not_the_file(trained, tmp_path):
    deployment = shutil.copytree(trained, tmp_path / "d")
    rows = 600_000
    rng = np.random.default_rng(3)
    big = pd.DataFrame(
        {
            "tenure_months": rng.integers(1, 60, rows),
            "monthly_fee": rng.normal(50, 15, rows).round(2),
            "plan": rng.choice(["basic", "pro", "team"], rows),
            "signup": rng.choice(pd.date_range("2023-01-01", periods=400).strftime("%Y-%m-%d"), rows),
            "autopay": rng.choice(["yes", None], rows),
        }
    )
    big.to_csv(tmp_path / "big.csv", index=False)
    big.head(rows // 10).to_csv(tmp_path / "small.csv", index=False)

    def peak(data: str, *streaming: str) -> float:
        return peak_mib([CLI, "predict", data, deployment, "-o", "out.json", *streaming], tmp_path)

    whole = peak("big.csv")
    streamed = peak("big.csv", "--chunk-rows", "20000")
    streamed_small = peak("small.csv", "--chunk-rows", "20000")

    report = f"whole {whole:.0f} MiB, streamed {streamed:.0f} MiB, streamed a tenth {streamed_small:.0f} MiB"
    assert streamed < 0.6 * whole, report
    assert streamed < streamed_small + 40, report  # ten times the rows, the same memory
    assert json.loads((tmp_path / "out.json").read_text())["predictions"][:1]
