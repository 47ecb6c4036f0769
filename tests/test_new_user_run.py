"""What a new user meets first: launcher errors, failed sweeps, the output and its noise.

Every test runs the real app or console script in a subprocess, as a user does.
"""

import os
import shutil
import sys
from pathlib import Path

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
