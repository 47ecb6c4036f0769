"""make-mlops-easy serve against mlflow models serve, the same fitted pipeline, the same load.

    python bench/serve.py                 # every cell, 3 runs of 20 s each; writes bench/SERVE_RESULTS.md
    python bench/serve.py --quick         # a few cells, one run of 5 s: do the scripts work?

Both servers answer for one fitted pipeline: the deployment's own
ColumnTransformer and estimator, trained once with ``make-mlops-easy train``,
are saved as an MLflow model (sklearn flavour, with a signature and an input
example) in a virtualenv of their own (``bench/.venv-mlflow``, MLflow 3.17:
a benchmark-only dependency). They run one after the other, never at once,
with the same number of workers, driven by the same load generator: ``wrk``
(Debian's package) with a Lua POST script, on loopback, ``dataframe_split``
bodies of 1, 100 and 1,000 rows at concurrency 1, 16 and 64; a warm-up, then
runs of ``--seconds``. Logging is on for our server, as in production. Both
servers' answers are checked to be the same predictions first.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
MLFLOW_VENV = HERE / ".venv-mlflow"
MLFLOW_VERSION = "3.17.2"
RESULTS = HERE / "SERVE_RESULTS.md"
MODELS = {
    "random_forest": ["trainer=random_forest"],  # 100 trees: scoring-bound
    "logistic_regression": ["trainer=logistic_regression"],  # overhead-bound
}

EXPORT_PIPELINE = """
import sys, joblib
from sklearn.pipeline import Pipeline
model = joblib.load(sys.argv[1] + "/model.joblib")["model"]
preprocessor = joblib.load(sys.argv[1] + "/preprocessor.joblib")
joblib.dump(Pipeline([("preprocess", preprocessor.transformer_), ("model", model)]), sys.argv[2])
"""

SAVE_MLFLOW_MODEL = """
import sys, joblib, pandas as pd, mlflow.sklearn
from mlflow.models import infer_signature
pipeline = joblib.load(sys.argv[1])
sample = pd.read_csv(sys.argv[2]).head(100)
mlflow.sklearn.save_model(
    pipeline, sys.argv[3], signature=infer_signature(sample, pipeline.predict(sample)),
    input_example=sample.head(3), serialization_format="cloudpickle",
)
"""

LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{body}]==]
"""


def sh(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kwargs)


def ensure_tools() -> None:
    if shutil.which("wrk") is None:
        sh("apt-get", "install", "-y", "-q", "wrk")
    if not (MLFLOW_VENV / "bin" / "mlflow").exists():
        import sklearn

        sh(sys.executable, "-m", "venv", MLFLOW_VENV)
        sh(
            MLFLOW_VENV / "bin" / "pip",
            "install",
            "-q",
            f"mlflow=={MLFLOW_VERSION}",
            f"scikit-learn=={sklearn.__version__}",
        )


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer /ping within {seconds} s")


def post(url: str, body: bytes) -> dict:
    request = urllib.request.Request(f"{url}/invocations", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


class Servers:
    """Start either server for one model, on a free port, with ``workers`` workers."""

    def __init__(self, work: Path, deployment: Path, mlflow_model: Path, workers: int) -> None:
        self.work, self.deployment, self.mlflow_model, self.workers = work, deployment, mlflow_model, workers

    def start(self, name: str, **serve_overrides) -> tuple[subprocess.Popen, str]:
        port = free_port()
        if name == "easy_mlops":
            extra = [f"serve.{key}={value}" for key, value in serve_overrides.items()]
            argv = [
                BIN / "make-mlops-easy",
                "serve",
                self.deployment,
                "--port",
                port,
                "--workers",
                self.workers,
                *extra,
            ]
            env = dict(os.environ)
        else:
            argv = [MLFLOW_VENV / "bin" / "mlflow", "models", "serve", "-m", self.mlflow_model]
            argv += ["--env-manager", "local", "-h", "127.0.0.1", "-p", port, "-w", self.workers]
            env = {**os.environ, "PATH": f"{MLFLOW_VENV / 'bin'}{os.pathsep}{os.environ['PATH']}"}
        process = subprocess.Popen(
            [str(a) for a in argv],
            cwd=self.work,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, process)
        return process, url

    @staticmethod
    def stop(process: subprocess.Popen) -> None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def body_for(frame, rows: int) -> str:
    part = frame.head(rows)
    return json.dumps({"dataframe_split": {"columns": list(part.columns), "data": part.values.tolist()}})


def wrk(url: str, script: Path, concurrency: int, seconds: float) -> dict:
    """One wrk run: requests/s, p50, p99 (ms), errors, and wrk's own CPU share of the wall time.

    wrk's timeout is 60 s, not its 2 s default: a slow answer is a latency to report, not an error.
    """
    threads = min(concurrency, 2)
    started = time.monotonic()
    result = subprocess.run(
        [
            "/usr/bin/time",
            "-f",
            "CPU %U %S",
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(concurrency),
            "-d",
            f"{seconds}s",
            "--timeout",
            "60s",
            "--latency",
            "-s",
            str(script),
            url + "/invocations",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.monotonic() - started
    out = result.stdout
    user, system = map(float, re.search(r"CPU ([\d.]+) ([\d.]+)", result.stderr).groups())

    def latency(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    errors += int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency("50"),
        "p99": latency("99"),
        "errors": errors,
        "wrk_cpu": (user + system) / wall,
    }


def median_run(runs: list[dict]) -> dict:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few cells, one 5 s run each")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--keep-temp", action="store_true")
    args = parser.parse_args()
    sizes, levels = ((1, 100, 1000), (1, 16, 64))
    if args.quick:
        sizes, levels, args.seconds, args.runs = (1, 1000), (1, 16), 5, 1
    ensure_tools()
    sys.path.insert(0, str(HERE))
    from data import make_frame

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    load_avg = os.getloadavg()
    try:
        data = work / "train.csv"
        make_frame(20_000).round(6).to_csv(data, index=False)
        scoring = make_frame(1000, seed=1, with_target=False).round(6)
        scoring.to_csv(work / "scoring.csv", index=False)
        scripts = {}
        for rows in sizes:
            scripts[rows] = work / f"post-{rows}.lua"
            scripts[rows].write_text(LUA.format(body=body_for(scoring, rows)))
        table, batching = [], []
        for model, overrides in MODELS.items():
            models_dir = work / f"models-{model}"
            sh(
                BIN / "make-mlops-easy",
                "train",
                data,
                f"deployment.output_dir={models_dir}",
                *overrides,
                cwd=work,
            )
            [deployment] = [p for p in models_dir.iterdir() if not p.name.startswith(".")]
            pipeline, mlflow_model = work / f"{model}.joblib", work / f"mlflow-{model}"
            sh(sys.executable, "-c", EXPORT_PIPELINE, deployment, pipeline)
            sh(
                MLFLOW_VENV / "bin" / "python",
                "-c",
                SAVE_MLFLOW_MODEL,
                pipeline,
                work / "scoring.csv",
                mlflow_model,
            )
            servers = Servers(work, deployment, mlflow_model, args.workers)
            answers = {}
            for name in ("easy_mlops", "mlflow"):
                process, url = servers.start(name)
                try:
                    answers[name] = post(url, body_for(scoring, 1000).encode())["predictions"]
                    subprocess.run(
                        [
                            "wrk",
                            "-t",
                            "2",
                            "-c",
                            "16",
                            "-d",
                            "5s",
                            "-s",
                            str(scripts[sizes[0]]),
                            url + "/invocations",
                        ],
                        capture_output=True,
                        check=True,
                    )  # warm-up
                    for rows in sizes:
                        for concurrency in levels:
                            runs = [
                                wrk(url, scripts[rows], concurrency, args.seconds) for _ in range(args.runs)
                            ]
                            cell = median_run(runs)
                            cell.update(server=name, model=model, rows=rows, concurrency=concurrency)
                            table.append(cell)
                            print(json.dumps(cell), flush=True)
                finally:
                    servers.stop(process)
            if answers["easy_mlops"] != [int(a) if isinstance(a, float) else a for a in answers["mlflow"]]:
                raise SystemExit(f"{model}: the two servers answer differently")
            if model == "random_forest" and not args.quick:
                for wait_ms in (0, 1, 2):
                    for max_rows in (256, 1024):
                        process, url = servers.start(
                            "easy_mlops", max_wait_ms=wait_ms, max_batch_rows=max_rows
                        )
                        try:
                            runs = [wrk(url, scripts[1], 64, args.seconds) for _ in range(args.runs)]
                        finally:
                            servers.stop(process)
                        cell = median_run(runs)
                        cell.update(max_wait_ms=wait_ms, max_batch_rows=max_rows)
                        batching.append(cell)
                        print(json.dumps(cell), flush=True)
        write_results(table, batching, args, load_avg)
    finally:
        if not args.keep_temp:
            shutil.rmtree(work, ignore_errors=True)


def versions() -> str:
    mine = sh(
        BIN / "python",
        "-c",
        "import importlib.metadata as m; print(' '.join(f'{p} {m.version(p)}' for p in "
        "('make-mlops-easy','starlette','uvicorn','uvloop','httptools','orjson','scikit-learn')))",
    ).stdout
    theirs = sh(
        MLFLOW_VENV / "bin" / "python",
        "-c",
        "import importlib.metadata as m; print(' '.join(f'{p} {m.version(p)}' "
        "for p in ('mlflow','fastapi','uvicorn','scikit-learn')))",
    ).stdout
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    return (
        f"- ours: {mine.strip()}\n- MLflow's: {theirs.strip()} (uvloop/httptools: {uvloop_in_mlflow()})\n"
        f"- {wrk_version}"
    )


def uvloop_in_mlflow() -> str:
    found = [
        p for p in ("uvloop", "httptools") if list((MLFLOW_VENV / "lib").glob(f"python*/site-packages/{p}"))
    ]
    return ", ".join(found) + " present" if found else "absent"


def write_results(table: list[dict], batching: list[dict], args, load_avg) -> None:
    lines = [
        "# Serving: make-mlops-easy serve vs mlflow models serve",
        "",
        f"Written by `python bench/serve.py{' --quick' if args.quick else ''}` on {platform.node()} "
        f"({os.cpu_count()} cores), load average {load_avg[0]:.2f} at the start; "
        f"{args.workers} worker(s) each; median of {args.runs} wrk run(s) of {args.seconds:g} s per cell; "
        "logging on for ours.",
        "",
        versions(),
        "",
        "| model | rows/request | concurrency | ours req/s | MLflow req/s | ratio | ours rows/s "
        "| MLflow rows/s | ours p50 ms | MLflow p50 ms | ours p99 ms | MLflow p99 ms | errors (ours/MLflow) "
        "| wrk CPU (ours/MLflow) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    cells = {(c["server"], c["model"], c["rows"], c["concurrency"]): c for c in table}
    for (server, model, rows, concurrency), ours in cells.items():
        if server != "easy_mlops":
            continue
        theirs = cells[("mlflow", model, rows, concurrency)]
        lines.append(
            f"| {model} | {rows} | {concurrency} | {ours['rps']:.1f} | {theirs['rps']:.1f} | "
            f"{ours['rps'] / theirs['rps']:.2f} | {ours['rps'] * rows:,.0f} | {theirs['rps'] * rows:,.0f} | "
            f"{ours['p50']:.2f} | {theirs['p50']:.2f} | {ours['p99']:.2f} | {theirs['p99']:.2f} | "
            f"{ours['errors']:.0f}/{theirs['errors']:.0f} | {ours['wrk_cpu']:.0%}/{theirs['wrk_cpu']:.0%} |"
        )
    if batching:
        lines += [
            "",
            "## Batching defaults (random forest, single-row requests, concurrency 64)",
            "",
            "| serve.max_wait_ms | serve.max_batch_rows | req/s | p50 ms | p99 ms |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {c['max_wait_ms']} | {c['max_batch_rows']} | {c['rps']:.1f} | {c['p50']:.2f} "
            f"| {c['p99']:.2f} |"
            for c in batching
        ]
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
