"""What a new user meets first: launcher errors, failed sweeps, the output and its noise.

Every test runs the real app or console script as a user does: in a subprocess, or
in this process through the ``cli`` fixture where start-up time would dominate.
"""

import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from helpers import CLI, run_process

APP = [sys.executable, "-m", "easy_mlops.run"]
FAST = ["data=breast_cancer", "trainer.model.n_estimators=5"]


def without_slurm() -> dict[str, str]:
    """A PATH with this interpreter's tools and the system's, and no ``srun``."""
    path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    assert shutil.which("srun", path=path) is None, "this machine has SLURM: the test needs one without"
    return {"PATH": path}


# --------------------------------------------------------------------------- launchers


def test_slurm_launcher_without_slurm_is_one_line(tmp_path):
    result = run_process(
        [*APP, "-m", "hydra/launcher=slurm", "trainer=random_forest,mlp"], tmp_path, env=without_slurm()
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        'error: hydra/launcher=slurm: Could not detect "srun" (no SLURM on this machine?); '
        "use hydra/launcher=submitit_local to run the jobs here"
    )
    assert not (tmp_path / "outputs").exists()  # refused before any job or sweep directory

    debug = run_process(
        [*APP, "-m", "hydra/launcher=slurm", "trainer=random_forest,mlp", "debug=true"],
        tmp_path,
        env=without_slurm(),
    )
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr and 'Could not detect "srun"' in debug.stderr


# --------------------------------------------------------------------------- a sweep with a failed job


def sweep(tmp_path: Path, *overrides: str, env: dict | None = None):
    """Run a multirun in tmp_path; return the process and its sweep directory."""
    result = run_process([*APP, "-m", *overrides], tmp_path, env=env, timeout=300)
    sweep_dirs = sorted((tmp_path / "outputs" / "multirun").glob("*/*"))
    return result, sweep_dirs[-1] if sweep_dirs else None


@pytest.mark.parametrize(
    "launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]], ids=["basic", "joblib"]
)
def test_a_failed_job_still_prints_the_leaderboard_then_the_failure(tmp_path, launcher):
    result, sweep_dir = sweep(tmp_path, *launcher, *FAST, "trainer.test_size=0.25,1.5")
    assert result.returncode == 2, result.stderr
    assert "Sweep leaderboard (by accuracy" in result.stdout
    assert f"Leaderboard: {sweep_dir.relative_to(tmp_path) / 'sweep_summary.csv'}" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: job 1 (data=breast_cancer trainer.model.n_estimators=5 trainer.test_size=1.5) failed: "
        "ConfigError: config key 'trainer.test_size': 1.5 must be between 0 and 1"
    ]
    assert "Traceback" not in result.stderr
    # The good job's table says whose it is, whichever order the jobs printed in.
    assert (
        "Hold-out metrics (classification), job 0: "
        "data=breast_cancer trainer.model.n_estimators=5 trainer.test_size=0.25"
    ) in result.stdout


def test_a_sweep_where_every_job_failed(tmp_path):
    result, _ = sweep(tmp_path, *FAST, "trainer.test_size=1.5")
    assert result.returncode == 2, result.stderr
    assert "Sweep leaderboard (no job has finished)" in result.stdout  # not "(by None ↑)"
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        "error: job 0 (data=breast_cancer trainer.model.n_estimators=5 trainer.test_size=1.5) failed: "
        "ConfigError: config key 'trainer.test_size': 1.5 must be between 0 and 1"
    ]


# --------------------------------------------------------------------------- the output


GATE_STEP = """
import time
from pathlib import Path

from easy_mlops.deployment.steps import DeploymentStep


class WaitForFile(DeploymentStep):
    name = "wait_for_file"

    def __init__(self, path, enabled=True):
        super().__init__(enabled)
        self.path = Path(path)

    def run(self, context):
        while not self.path.exists():
            time.sleep(0.05)
"""


def test_phases_reach_a_pipe_as_they_start(tmp_path, classification_csv):
    """Piped, ``train`` shows each phase when it starts: here deploying waits until the test says go."""
    (tmp_path / "gate_step.py").write_text(GATE_STEP)
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [
            CLI,
            "train",
            str(classification_csv),
            "trainer.model.n_estimators=5",
            "+deployment.steps.wait._target_=gate_step.WaitForFile",
            f"+deployment.steps.wait.path={go}",
            "trusted_modules=[gate_step]",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line.rstrip("\n")) for line in process.stdout], daemon=True
    ).start()
    before_go = []
    try:
        while "Deploying" not in before_go:
            before_go.append(lines.get(timeout=30))
        still_deploying = process.poll() is None
    finally:
        go.touch()
        process.wait(timeout=60)
    assert before_go == [
        "Loading data",
        "target: churn (the last column; choose another with data.target=... or --target)",
        "Training on 240 rows",
        "Deploying",
    ]
    assert still_deploying
    assert process.returncode == 0, process.stderr.read()
    assert process.stderr.read() == ""  # stderr is for warnings and errors


def test_the_target_line_only_when_the_target_was_not_given(cli, classification_csv):
    guessed = cli("train", classification_csv, "trainer.model.n_estimators=5")
    assert guessed.returncode == 0, guessed.stderr
    assert (
        "target: churn (the last column; choose another with data.target=... or --target)"
        in guessed.stdout.splitlines()
    )
    given = cli("train", classification_csv, "trainer.model.n_estimators=5", "--target", "churn")
    assert given.returncode == 0, given.stderr
    assert not [line for line in given.stdout.splitlines() if line.startswith("target:")]


# --------------------------------------------------------------------------- the noise


def test_a_library_warning_is_one_line_naming_the_key(tmp_path, cli, classification_csv):
    expected = "warning: MLPClassifier did not converge in 5 iterations; raise trainer.model.max_iter"
    # Three cross-validation folds and the final fit warn alike: one line.
    app = run_process([*APP, "trainer=mlp", "trainer.model.max_iter=5", "trainer.cv_folds=3"], tmp_path)
    assert app.returncode == 0, app.stderr
    assert app.stderr.splitlines() == [expected]
    console_script = cli(
        "train", classification_csv, "trainer=mlp", "trainer.model.max_iter=5", "trainer.cv_folds=3"
    )
    assert console_script.returncode == 0, console_script.stderr
    assert console_script.stderr.splitlines() == [expected]
