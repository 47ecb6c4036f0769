"""The unit tier: the package's functions and classes, in this process, on real files.

A test here starts no process and no server: while one runs (its fixtures
included, not the session's end, where the e2e servers stop), an audit hook
turns starting a process (``subprocess``, ``fork``, ``exec``, ``spawn``,
``os.system``) or binding a socket into an error that says where the test
belongs. The commands themselves (``cli``) are the end-to-end tier's.
"""

import sys
from contextlib import contextmanager
from pathlib import Path

import joblib
import pytest

UNIT = Path(__file__).resolve().parent
# Audit events (docs.python.org/3/library/audit_events.html) that start a process or a server.
REFUSED = {
    "subprocess.Popen",
    "os.fork",
    "os.forkpty",
    "os.posix_spawn",
    "os.spawn",
    "os.exec",
    "os.system",
    "socket.bind",
}
running: list[str] = []  # the unit test being run, if any

# joblib counts the physical cores once, with `lscpu` in a subprocess, for scikit-learn's thread pools:
# counted here, before any test, it is the machine's count and not the guard's refusal.
joblib.cpu_count(only_physical_cores=True)


def refuse_processes_and_servers(event: str, args: tuple) -> None:
    if running and event in REFUSED:
        raise RuntimeError(f"{running[0]} started a process or a server ({event}): it belongs in tests/e2e")


sys.addaudithook(refuse_processes_and_servers)


@contextmanager
def guarding(item: pytest.Item):
    if not item.path.is_relative_to(UNIT):
        yield
        return
    running.append(item.nodeid)
    try:
        yield
    finally:
        running.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    with guarding(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    with guarding(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    if nextitem is None:  # the session's end: e2e servers may stop here too
        return (yield)
    with guarding(item):
        return (yield)
