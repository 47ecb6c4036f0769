"""Run the server: one parent, ``serve.workers`` worker processes answering on one port.

The parent checks that the serving extra is installed, verifies and loads the
deployment (a bad one is refused before anything listens), binds the socket,
and forks the workers, which share the socket and the loaded model's memory.
It prints the URL once every worker is ready, forwards SIGHUP (reload) and
SIGTERM/SIGINT (stop accepting, finish in-flight requests, flush the logs) to
them, and exits 0 after a clean stop.
"""

import importlib.util
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
from typing import Any

from easy_mlops.deployment.loading import Deployment
from easy_mlops.errors import ConfigError, DeploymentError

FORK = multiprocessing.get_context("fork")
READY_TIMEOUT_S = 120
# What `pip install 'make-mlops-easy[serve]'` brings, by import name. The workers import
# them after the fork (prometheus_client only once its multiprocess directory is set), so
# a missing one is found here, before anything is loaded, not as a worker's traceback.
SERVE_EXTRA = ("starlette", "uvicorn", "prometheus_client", "orjson")


def require_serve_extra() -> None:
    """Refuse to serve, in one line naming the extra, when one of its packages is missing."""
    missing = [name for name in SERVE_EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            f"serving needs its extra ({', '.join(missing)} not installed): "
            "pip install 'make-mlops-easy[serve]'"
        )


def read_token(token_env: str | None) -> str | None:
    """The bearer token from the variable ``serve.token_env`` names (never from config itself)."""
    if token_env is None:
        return None
    token = os.environ.get(token_env)
    if not token:
        raise ConfigError(f"config key 'serve.token_env': the variable {token_env} is not set or empty")
    return token


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"config key 'serve.port': cannot listen on {host}:{port} ({exc.strerror})"
        ) from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(reference: str, settings: Any, output_dir: str | None = None, announce=print) -> int:
    """Serve ``reference`` (a directory, ``latest`` or a URL) until SIGTERM or SIGINT; returns 0."""
    require_serve_extra()
    token = read_token(settings.token_env)
    deployment = Deployment.load(reference, verify=True, output_dir=output_dir)
    sock = bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    metrics_dir = tempfile.mkdtemp(prefix="easy-mlops-metrics-")
    # Before prometheus_client is first imported: it picks multiprocess values at import time.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    from easy_mlops.serving.metrics import worker_exited

    ready = FORK.Queue()
    workers = [
        FORK.Process(
            target=run_worker,
            args=(sock, deployment, reference, settings, token, output_dir, ready),
            name=f"easy-mlops-serve-{number}",
        )
        for number in range(settings.workers)
    ]
    stopping = False

    def forward(sig: int, frame: Any) -> None:
        nonlocal stopping
        stopping = stopping or sig != signal.SIGHUP
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signal.SIGTERM if sig != signal.SIGHUP else signal.SIGHUP)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        for worker in workers:
            worker.start()
        sock.close()  # the workers hold it now
        for _ in workers:
            try:
                ready.get(timeout=READY_TIMEOUT_S)
            except Exception as exc:
                raise DeploymentError(f"the server did not start: {_exit_reasons(workers)}") from exc
        url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        announce(
            f"Serving {deployment.name} (version {deployment.version}) at {url} "
            f"with {settings.workers} worker(s); Ctrl+C stops it"
        )
        for worker in workers:
            worker.join()
            worker_exited(worker.pid)  # its live gauges no longer count
        failed = [w for w in workers if w.exitcode not in (0, -signal.SIGTERM, -signal.SIGINT)]
        if failed and not stopping:
            raise DeploymentError(f"the server stopped: {_exit_reasons(failed)}")
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
                worker.join(10)
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _exit_reasons(workers: list) -> str:
    return (
        ", ".join(f"{w.name} exited with {w.exitcode}" for w in workers if not w.is_alive())
        or "no worker answered"
    )


def run_worker(
    sock: socket.socket,
    deployment: Deployment,
    reference: str,
    settings: Any,
    token: str | None,
    output_dir: str | None,
    ready: Any,
) -> None:
    """One worker: uvicorn on the shared socket, the app built around the already-loaded deployment."""
    import uvicorn

    from easy_mlops.serving.app import Serving

    # Not the parent's forwarding handlers: uvicorn restores these after its graceful stop.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the app handles it once its loop runs
    serving = Serving(
        deployment, reference, settings, token, output_dir, on_ready=lambda: ready.put(os.getpid())
    )
    config = uvicorn.Config(
        serving.app(),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.timeout_s),
        server_header=False,
    )
    uvicorn.Server(config).run(sockets=[sock])
