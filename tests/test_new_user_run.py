"""What a new user meets first: launcher errors, failed sweeps, the output and its noise.

Every test runs the real app or console script in a subprocess, as a user does.
"""

import os
import shutil
import sys
from pathlib import Path

import pytest

from conftest import run_process

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
        [*APP, "-m", "hydra/launcher=slurm", "trainer=random_forest,mlp", "--debug"],
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
