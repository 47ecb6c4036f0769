"""Fleet benchmark: ``status`` over many log segments, and batch scoring on Ray vs one process.

    .venv/bin/python bench/fleet.py [--quick]        # writes bench/FLEET_RESULTS.md

1. ``status --json`` of a deployment whose logs are 1,000 segments of 1,000
   rows (written as ``predict --engine ray`` tasks write them), against the
   same rows compacted into one segment: first with nothing kept on this
   machine (every header fetched), then with the headers and their sum kept
   by the previous ``status``.
2. A partitioned dataset (20 CSV files of 500,000 rows: 10M rows) scored by
   ``predict DIR --engine ray`` on a local cluster against ``predict`` of the
   same rows in one file by one process (streamed 100,000 rows at a time, as
   it would be anyway over 256 MiB), both logging: wall time, rows/s, peak
   memory of the process and of each Ray worker against the largest
   partition's size in memory. A worker's own footprint (Python, pandas,
   scikit-learn, Ray, the model) is measured by the same job over 1,000-row
   partitions; what a partition adds is the difference.
3. One file of 600,000 rows in each format (CSV, JSON Lines, a JSON array,
   Parquet; each under the 256 MiB above which ``predict`` streams anyway)
   scored by ``predict`` whole and streamed (``--chunk-rows 100000``),
   logging: wall time and peak memory of each, and their ratios.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from data import make_frame  # noqa: E402

from easy_mlops.inference import STREAM_ABOVE_BYTES  # noqa: E402

BIN = Path(sys.executable).parent
CLI = str(BIN / "make-mlops-easy")


def run(args: list[str], cwd: Path, env: dict) -> tuple[float, float, str]:
    """Wall seconds, the child's peak RSS in MiB (its own, not earlier children's), stderr."""
    started = time.perf_counter()
    wrapper = [sys.executable, "-c", PEAK, *args]
    result = subprocess.run(wrapper, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")
    peak = float(result.stderr.strip().splitlines()[-1].split()[-1])
    return seconds, peak, result.stderr


# Runs the command as a child and prints that child's peak RSS (ru_maxrss of the children).
PEAK = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print('peak_mib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, file=sys.stderr); "
    "sys.exit(code)"
)


def status_figures(work: Path, env: dict, segments: int, rows: int, repeats: int) -> list[str]:
    import numpy as np

    from easy_mlops.jsonsafe import now
    from easy_mlops.log_shipping import segment_store
    from easy_mlops.observability.prediction_index import PredictionBatch
    from easy_mlops.observability.segments import SegmentHeader
    from easy_mlops.observability.steps import read_profile
    from easy_mlops.profiles import live_counts

    make_frame(2000).to_csv(work / "train.csv", index=False)
    shared = work / "shared"
    subprocess.run(
        [CLI, "train", "train.csv", "trainer=logistic_regression", f"observability.log_uri={shared}"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    [deployment] = [path for path in (work / "models").iterdir() if path.is_dir()]
    profile = read_profile(deployment)
    store = segment_store(deployment)
    frame = make_frame(rows, seed=1, with_target=False)
    predictions = np.random.default_rng(0).integers(0, 3, rows)
    started = time.perf_counter()
    for number in range(segments):
        batch = PredictionBatch(predictions, "1.0.0", {"source": "bench"})
        header = SegmentHeader(writer="bench", seq=number, created=now())
        batch.add_to(header.index)
        header.drift = {batch.timestamp[:13]: live_counts(profile, frame, predictions)}
        store.put(header, "".join(batch.chunks()).encode())
    print(f"wrote {segments} segments in {time.perf_counter() - started:.1f} s")

    def timed(cold: bool) -> float:
        times = []
        for _ in range(repeats):
            if cold:
                shutil.rmtree(Path(env["EASY_MLOPS_CACHE"]) / "segments", ignore_errors=True)
            times.append(run([CLI, "status", str(deployment), "--json"], work, env)[0])
        return statistics.median(times)

    many_cold, many_kept = timed(True), timed(False)
    subprocess.run(
        [CLI, "logs", "compact", str(deployment)], cwd=work, env=env, check=True, capture_output=True
    )
    one_cold, one_kept = timed(True), timed(False)
    return [
        f"| `status --json`, {segments:,} segments of {rows:,} rows, headers fetched | {many_cold:.2f} s "
        f"| {one_cold:.2f} s | {many_cold / one_cold:.2f} |",
        f"| `status --json`, {segments:,} segments, headers and their sum kept from the last status "
        f"| {many_kept:.2f} s "
        f"| {one_kept:.2f} s | {many_kept / one_kept:.2f} |",
    ]


def batch_figures(work: Path, env: dict, partitions: int, rows: int) -> list[str]:
    make_frame(200_000).to_csv(work / "train.csv", index=False)
    for kind in ("engine", "single"):
        subprocess.run(
            [CLI, "train", "train.csv", "trainer=logistic_regression", f"deployment.output_dir={kind}"],
            cwd=work,
            env=env,
            check=True,
            capture_output=True,
        )
    dataset = work / "dataset"
    dataset.mkdir()
    scoring = make_frame(partitions * rows, seed=1, with_target=False).round(6)
    largest = 0
    for number in range(partitions):
        part = scoring.iloc[number * rows : (number + 1) * rows]
        largest = max(largest, int(part.memory_usage(deep=True).sum()))
        part.to_csv(dataset / f"part-{number:05d}.csv", index=False)
    scoring.to_csv(work / "all.csv", index=False)
    total = partitions * rows
    del scoring
    single_s, single_peak, _ = run(
        [
            CLI,
            "predict",
            "all.csv",
            "latest",
            "--models",
            "single",
            "-o",
            "one.json",
            "--chunk-rows",
            "100000",
        ],
        work,
        env,
    )
    file_mib = (work / "all.csv").stat().st_size / 2**20
    engine_s, engine_peak, worker = score_on_ray(work, env, "dataset", "scored")
    check = pd.concat(pd.read_csv(path) for path in sorted((work / "scored").iterdir()))["prediction"]
    assert len(check) == total
    tiny = work / "tiny"
    tiny.mkdir()
    for number in range(partitions):
        make_frame(1000, seed=number, with_target=False).to_csv(tiny / f"part-{number:05d}.csv", index=False)
    _, _, idle_worker = score_on_ray(work, env, "tiny", "scored-tiny")
    mib = largest / 2**20
    added = worker - idle_worker
    return [
        f"| batch predict, {total:,} rows ({file_mib:,.0f} MiB of CSV): one process, streamed (logging) "
        f"| {single_s:.1f} s | {total / single_s:,.0f} rows/s | peak {single_peak:,.0f} MiB |",
        f"| the same in {partitions} partitions on Ray, local cluster ({os.cpu_count()} CPUs), one task per "
        f"partition | {engine_s:.1f} s | {total / engine_s:,.0f} rows/s (× {single_s / engine_s:.2f}) "
        f"| driver peak {engine_peak:,.0f} MiB; worker peak {worker:,.0f} MiB, of which a partition "
        f"adds {added:,.0f} MiB (worker over 1,000-row partitions {idle_worker:,.0f} MiB); largest "
        f"partition {mib:,.1f} MiB in memory: {added / mib:.2f}× |",
    ]


FORMATS = {
    "CSV": ("scoring.csv", lambda frame, path: frame.to_csv(path, index=False)),
    "JSON Lines": ("scoring.jsonl", lambda frame, path: frame.to_json(path, orient="records", lines=True)),
    "JSON array": ("scoring.json", lambda frame, path: frame.to_json(path, orient="records")),
    "Parquet": (
        "scoring.parquet",
        lambda frame, path: frame.to_parquet(path, index=False, row_group_size=100_000),
    ),
}


def stream_figures(work: Path, env: dict, rows: int) -> list[str]:
    """Whole-file and streamed ``predict`` of one file per format: wall seconds and peak memory."""
    make_frame(50_000).to_csv(work / "train.csv", index=False)
    subprocess.run(
        [CLI, "train", "train.csv", "trainer=logistic_regression"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    scoring = make_frame(rows, seed=1, with_target=False).round(6)
    lines = []
    for name, (file, write) in FORMATS.items():
        write(scoring, work / file)
        size = (work / file).stat().st_size / 2**20
        # Above this size predict streams anyway: the whole-file side would be streamed too.
        assert size * 2**20 < STREAM_ABOVE_BYTES, f"{file}: {size:.0f} MiB is streamed whole or not"
        whole_s, whole_peak, _ = run([CLI, "predict", file, "latest", "-o", "whole.json"], work, env)
        chunked = [CLI, "predict", file, "latest", "-o", "streamed.json", "--chunk-rows", "100000"]
        streamed_s, streamed_peak, _ = run(chunked, work, env)
        assert (work / "whole.json").read_bytes() == (work / "streamed.json").read_bytes()
        lines.append(
            f"| {name}, {rows:,} rows ({size:,.0f} MiB) | {whole_s:.1f} s, peak {whole_peak:,.0f} MiB "
            f"| {streamed_s:.1f} s, peak {streamed_peak:,.0f} MiB | × {streamed_s / whole_s:.2f} "
            f"| × {streamed_peak / whole_peak:.2f} |"
        )
        (work / file).unlink()
    return lines


def score_on_ray(work: Path, env: dict, dataset: str, output: str) -> tuple[float, float, float]:
    """Wall seconds, the driver's peak and the peak of the workers (MiB) of ``predict --engine ray``."""
    seconds, peak, said = run(
        [CLI, "predict", dataset, "latest", "--models", "engine", "--engine", "ray", "-o", output], work, env
    )
    worker = float(said.split("peak worker memory ")[1].split(" MiB")[0].replace(",", ""))
    return seconds, peak, worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one run")
    parser.add_argument("--output", default=str(HERE / "FLEET_RESULTS.md"))
    parser.add_argument("--only", choices=["status", "batch", "stream"], help="run one of the three parts")
    args = parser.parse_args()
    segments, segment_rows, repeats = (50, 100, 1) if args.quick else (1000, 1000, 5)
    partitions, partition_rows = (4, 5_000) if args.quick else (20, 500_000)
    stream_rows = 20_000 if args.quick else 600_000  # each file under the size predict streams anyway
    load_before = os.getloadavg()[0]
    lines = ["| figure | many | one | ratio |", "|---|---|---|---|"]
    batch_lines = ["| figure | wall | throughput | memory |", "|---|---|---|---|"]
    stream_lines = [
        "| predict of one file | whole | streamed, 100,000 rows at a time | time | memory |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as scratch:
        ray_tmp = Path(tempfile.mkdtemp(prefix="ray"))
        env = {
            **os.environ,
            "EASY_MLOPS_CACHE": str(Path(scratch) / "cache"),
            "RAY_TMPDIR": str(ray_tmp),
            "RAY_AUTH_MODE": "disabled",
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        os.environ["EASY_MLOPS_CACHE"] = env["EASY_MLOPS_CACHE"]
        for name in ("status", "batch", "stream"):
            (Path(scratch) / name).mkdir()
        if args.only in (None, "status"):
            lines += status_figures(Path(scratch) / "status", env, segments, segment_rows, repeats)
        if args.only in (None, "batch"):
            batch_lines += batch_figures(Path(scratch) / "batch", env, partitions, partition_rows)
        if args.only in (None, "stream"):
            stream_lines += stream_figures(Path(scratch) / "stream", env, stream_rows)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    text = "\n".join(
        [
            "# Fleet benchmark (`bench/fleet.py`)",
            "",
            f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, load average {load_before:.2f} "
            "at the "
            f"start and {os.getloadavg()[0]:.2f} at the end; status: median of {repeats}.",
            "",
            *lines,
            "",
            *batch_lines,
            "",
            *stream_lines,
            "",
        ]
    )
    Path(args.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
