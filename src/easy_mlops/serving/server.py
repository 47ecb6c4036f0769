"""Run the server: one parent, ``serve.workers`` worker processes answering on one port.

The parent checks that the serving extra is installed, verifies and loads the
deployment (a bad one is refused before anything listens), binds the socket,
and forks the workers, which share the socket and the loaded model's memory.
It prints the URL once every worker is ready, forwards SIGHUP (reload) and
SIGTERM/SIGINT (stop accepting, finish in-flight requests, flush the logs) to
them, and exits 0 after a clean stop.

Workers tell the parent what happened to them through one queue (ready,
reloaded, a newer deployment refused), and the parent says it once for the
whole server: every worker reloads, but ``reloaded: ...`` is printed once. A
worker that took a newer deployment on ``POST /reload`` makes the parent send
the others SIGHUP, so the whole server follows.
"""

import ctypes
import importlib.util
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from easy_mlops.deployment.loading import Deployment
from easy_mlops.errors import ConfigError, DeploymentError

log = logging.getLogger(__name__)

FORK = multiprocessing.get_context("fork")
READY_TIMEOUT_S = 120
# What `pip install 'make-mlops-easy[serve]'` brings, by import name. The workers import
# them after the fork (prometheus_client only once its multiprocess directory is set), so
# a missing one is found here, before anything is loaded, not as a worker's traceback.
SERVE_EXTRA = ("starlette", "uvicorn", "prometheus_client", "orjson")
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


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

    events = FORK.Queue()
    workers = [
        FORK.Process(
            target=run_worker,
            args=(sock, deployment, reference, settings, token, output_dir, events, os.getpid()),
            name=f"easy-mlops-serve-{number}",
        )
        for number in range(settings.workers)
    ]
    stopping = False

    def signal_workers(sig: int, but: int | None = None) -> None:
        for worker in workers:
            if worker.pid is not None and worker.pid != but and worker.is_alive():
                os.kill(worker.pid, sig)

    def forward(sig: int, frame: Any) -> None:
        nonlocal stopping
        stopping = stopping or sig != signal.SIGHUP
        signal_workers(signal.SIGTERM if sig != signal.SIGHUP else signal.SIGHUP)

    said = WorkerEvents(deployment, announce, reload_others=lambda pid: signal_workers(signal.SIGHUP, pid))
    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    following = threading.Thread(target=said.follow, args=(events,), name="easy-mlops-events", daemon=True)
    try:
        for worker in workers:
            worker.start()
        sock.close()  # the workers hold it now
        try:
            said.wait_ready(events, len(workers), READY_TIMEOUT_S)
        except Exception as exc:
            raise DeploymentError(f"the server did not start: {_exit_reasons(workers)}") from exc
        url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        announce(
            f"Serving {deployment.name} (version {deployment.version}) at {url} "
            f"with {settings.workers} worker(s); Ctrl+C stops it"
        )
        following.start()
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
        if following.is_alive():
            events.put(None)  # what the workers said before they exited is said first
            following.join(10)
        shutil.rmtree(metrics_dir, ignore_errors=True)


class WorkerEvents:
    """What the workers report, said once for the whole server.

    Events are tuples ``(kind, pid, *details)``: ``("ready", pid)``,
    ``("reloaded", pid, directory, name, version)`` and ``("refused", pid,
    directory, reason)``. A reload is announced when the deployment being
    served changes, which the first worker to take it reports; the others
    report the same change and are not repeated. A refused deployment is
    warned about once.
    """

    def __init__(
        self, deployment: Deployment, announce: Callable[[str], Any], reload_others: Callable[[int], None]
    ) -> None:
        self.serving = str(deployment.directory)
        self.announce, self.reload_others = announce, reload_others
        self.refused: set[tuple[str, str]] = set()

    def wait_ready(self, events: Any, workers: int, timeout_s: float) -> None:
        """Until ``workers`` workers said they are ready (``queue.Empty`` after ``timeout_s``)."""
        ready = 0
        while ready < workers:
            event = events.get(timeout=timeout_s)
            ready += event[0] == "ready"
            self.handle(event)

    def follow(self, events: Any) -> None:
        """Handle events until ``None`` (the parent's thread, once every worker is ready)."""
        for event in iter(events.get, None):
            self.handle(event)

    def handle(self, event: tuple) -> None:
        kind, pid, *details = event
        if kind == "reloaded":
            directory, name, version = details
            if directory != self.serving:
                self.serving = directory
                self.announce(f"reloaded: now serving {name} (version {version})")
                self.reload_others(pid)  # after POST /reload to one worker, the others follow
        elif kind == "refused" and tuple(details) not in self.refused:
            self.refused.add(tuple(details))
            log.warning("not reloading %s: %s", *details)


def _exit_reasons(workers: list) -> str:
    return (
        ", ".join(f"{w.name} exited with {w.exitcode}" for w in workers if not w.is_alive())
        or "no worker answered"
    )


def stop_with_parent(parent: int) -> None:
    """Have this worker stopped (SIGTERM: a graceful stop that ships its logs) when the server
    process dies, even by ``kill -9``, which forwards nothing: an orphaned worker would go on
    answering on the port with nobody to stop it. Linux only; elsewhere the parent's stop is needed."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


def run_worker(
    sock: socket.socket,
    deployment: Deployment,
    reference: str,
    settings: Any,
    token: str | None,
    output_dir: str | None,
    events: Any,
    parent: int,
) -> None:
    """One worker: uvicorn on the shared socket, the app built around the already-loaded deployment.

    It reports to the parent on ``events`` (see :class:`WorkerEvents`) instead of printing.
    """
    import uvicorn

    from easy_mlops.serving.app import Serving

    # Not the parent's forwarding handlers: uvicorn restores these after its graceful stop.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the app handles it once its loop runs
    stop_with_parent(parent)
    pid = os.getpid()
    serving = Serving(
        deployment,
        reference,
        settings,
        token,
        output_dir,
        on_ready=lambda: events.put(("ready", pid)),
        on_reloaded=lambda new: events.put(("reloaded", pid, str(new.directory), new.name, new.version)),
        on_refused=lambda directory, reason: events.put(("refused", pid, str(directory), reason)),
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
