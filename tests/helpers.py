"""What test modules of both tiers share besides fixtures: data, processes, checks, the guide's blocks.

Fixtures are in the conftest files (``tests/conftest.py`` for both tiers,
``tests/e2e/conftest.py`` for commands, processes and servers). A test module
imports its helpers from here (``tests/`` is on pytest's ``pythonpath``),
never from a conftest or from another test module.
"""

import csv
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]  # the checkout: README.md, pyproject.toml, src/, conf/
BIN = Path(sys.executable).parent
CLI = str(BIN / "make-mlops-easy")
USER_ERROR_EXIT = 2

# --------------------------------------------------------------------------- data


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


def customers(rows: int = 80, seed: int = 0) -> pd.DataFrame:
    """Every kind of column the preprocessor reads, and two it leaves out (an id, an empty one)."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 60, rows)
    return pd.DataFrame(
        {
            "customer_id": [f"C{1000 + i}" for i in range(rows)],
            "tenure_months": tenure,
            "monthly_fee": rng.normal(50, 15, rows).round(2),
            "plan": rng.choice(["basic", "pro", "team"], rows),
            "signup": pd.date_range("2023-01-01", periods=rows, freq="5D").strftime("%Y-%m-%d"),
            "autopay": np.where(rng.random(rows) < 0.5, "yes", None),  # a checkbox: empty means no
            "notes": [None] * rows,
            "churn": np.where(tenure + rng.normal(0, 10, rows) < 25, "yes", "no"),
        }
    )


CUSTOMER_FEATURES = ["tenure_months", "monthly_fee", "plan", "signup", "autopay"]  # of customers()

CODES = np.array([f"code{i:03d}" for i in range(500)])


def live_table(rows: int, seed: int, shifted: bool = False, flood: str | None = None) -> pd.DataFrame:
    """Rows of the training distribution; ``shifted``: x up by one sd, other city shares, and a fifth
    of the rows on the code ``flood``."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "code": rng.choice(CODES, rows),  # 500 equally likely: 8 rows each in the training split
            "city": rng.choice(
                ["paris", "lyon", "nice"], rows, p=[0.4, 0.3, 0.3] if shifted else [0.6, 0.3, 0.1]
            ),
            "x": rng.normal(size=rows) + (1.0 if shifted else 0.0),
            "amount": rng.lognormal(0.0, 0.5, rows),
        }
    )
    if shifted:
        frame.loc[rng.random(rows) < 0.2, "code"] = flood
    return frame


# --------------------------------------------------------------------------- deployments and logs

# A pinned clock reading: deployments made "at noon" in one process or several claim the same name.
NOON = datetime(2024, 1, 1, 12, 0, 0).astimezone(UTC)
METRICS_LOG = "metrics_history.jsonl"
PREDICTIONS_LOG = "predictions_log.jsonl"


def train(compose, csv: Path, *overrides: str) -> Path:
    """Train and deploy in this process (cheaper than the CLI when the CLI is not under test)."""
    from easy_mlops.pipeline import data_overrides, run_experiment

    results = run_experiment(compose(*data_overrides(csv, None), *overrides))
    return Path(results["deployment"]["deployment_dir"])


def predict(frame: pd.DataFrame, deployment) -> list:
    """What ``deployment`` predicts for ``frame``, in this process and not logged."""
    from easy_mlops.inference import predict_frame

    return predict_frame(frame, deployment, log_predictions=False).tolist()


def deployments(models_dir: Path) -> list[Path]:
    """Finished deployment directories (staging and reservations excluded)."""
    if not models_dir.exists():
        return []
    return sorted(
        p
        for p in models_dir.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / "metadata.json").exists()
    )


def read_jsonl(path: Path) -> list[dict]:
    """Every line of ``path`` parsed strictly: any invalid line fails the test."""
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"", f"{path} does not end with a newline"
    return [json.loads(line) for line in lines[:-1]]


def append_bytes(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def is_timestamp(value) -> bool:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


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


# --------------------------------------------------------------------------- user errors


def assert_one_line_error(result, *names: str) -> str:
    """Exit 2 and exactly one non-empty stderr line naming every one of ``names``."""
    context = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == USER_ERROR_EXIT, context
    assert "Traceback" not in result.stderr, context
    message = result.stderr.strip()
    assert message, context
    assert "\n" not in message, f"more than one line on stderr:\n{result.stderr}"
    for name in names:
        assert name in message, f"{name!r} not named in: {message}"
    return message


def assert_nothing_deployed(models_dir: Path) -> None:
    """No finished deployment, no name reservation and no ``.partial`` staging dir."""
    assert deployments(models_dir) == []
    if models_dir.exists():
        leftovers = sorted(p.name for p in models_dir.iterdir())
        assert not [name for name in leftovers if name.endswith(".partial")], leftovers
        assert not [name for name in leftovers if (models_dir / name).is_dir()], leftovers


# --------------------------------------------------------------------------- the guide

# A model that fails inside predict, for the 500 tests (written to a file, imported by name).
FAILING_MODEL = '''
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class Fussy(ClassifierMixin, BaseEstimator):
    """Predicts the first class, and fails on rows whose first feature is above 5."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        if (np.asarray(X)[:, 0] > 5).any():
            raise RuntimeError("cannot score a first feature above 5")
        return np.full(len(X), self.classes_[0])
'''


GUIDE = ROOT / "docs" / "guide.md"


def guide_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", GUIDE.read_text(encoding="utf-8"), re.S | re.M)


def block_under(heading: str, language: str, index: int = 0) -> str:
    """The ``index``-th ``language`` block of the guide's section titled ``heading``."""
    text = GUIDE.read_text(encoding="utf-8")
    section = re.split(r"^#+ ", text.split(f"\n{heading}\n", 1)[1], flags=re.M)[0]
    return re.findall(rf"^```{language}\n(.*?)^```", section, re.S | re.M)[index]


# --------------------------------------------------------------------------- processes (e2e)


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


class Server:
    """``make-mlops-easy serve ARGS`` running until stopped; ``url`` once it said it is ready."""

    def __init__(self, cwd: Path, *args: str, env: dict | None = None) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [CLI, "serve", *args, "--port", str(self.port)],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # its own process group: kill() takes its workers too
        )
        self.lines: queue.Queue = queue.Queue()
        self.reader = threading.Thread(
            target=lambda: [self.lines.put(line) for line in self.process.stdout], daemon=True
        )
        self.reader.start()
        try:
            self.banner = self.lines.get(timeout=60)
        except queue.Empty:
            self.process.kill()
            raise AssertionError(f"the server did not start: {self.process.stderr.read()}") from None
        assert self.banner.startswith("Serving "), self.banner + self.process.stderr.read()
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.client.close()
        self.process.send_signal(sig)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        return self.process.returncode, self.process.stderr.read()

    def kill(self) -> None:
        """``kill -9`` of the server and its workers at once, as when its machine dies."""
        self.client.close()
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(60)

    def printed(self) -> list[str]:
        """What it printed on stdout after the banner, once stopped."""
        self.reader.join(10)
        return [self.lines.get() for _ in range(self.lines.qsize())]
