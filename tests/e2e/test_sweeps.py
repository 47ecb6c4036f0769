"""Multirun sweeps with real launchers, the leaderboard, and replay from the command line."""

import json
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import check_one_deployment_per_job, deployments, run_process, summary_rows

FAST = ["data=breast_cancer"]


def sweep(tmp_path, *overrides, env=None):
    """Run a multirun in tmp_path; return the process and its sweep directory."""
    result = run_process(
        [sys.executable, "-m", "easy_mlops.run", "-m", *overrides], tmp_path, env=env, timeout=300
    )
    sweep_dirs = sorted((tmp_path / "outputs" / "multirun").glob("*/*"))
    return result, sweep_dirs[-1] if sweep_dirs else None


@pytest.mark.parametrize(
    "launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]], ids=["in-process", "joblib"]
)
def test_a_failing_job_keeps_every_row(tmp_path, launcher):
    result, sweep_dir = sweep(tmp_path, *launcher, *FAST, "trainer.test_size=0.25,1.5", "+api_token=hunter2")
    assert result.returncode != 0
    # The sweep's own report names the failed job (its secret masked); Hydra's line, which
    # lists the overrides unmasked, and its INFO chatter never reach the user: not from this
    # process, nor from a joblib worker, where the leaderboard reads the failed job's error.
    assert result.stderr.splitlines() == [
        "error: job 1 (data=breast_cancer trainer.test_size=1.5 +api_token=***) failed: ConfigError: "
        "config key 'trainer.test_size': 1.5 must be between 0 and 1"
    ]
    assert "hunter2" not in result.stdout + result.stderr and "[HYDRA]" not in result.stdout
    rows = {row["overrides"].split()[1]: row for row in summary_rows(sweep_dir)}
    assert rows["trainer.test_size=0.25"]["status"] == "ok"
    failed = rows["trainer.test_size=1.5"]
    assert failed["status"] == "failed" and "must be between 0 and 1" in failed["error"]
    assert failed["rank"] == "2"  # failed jobs rank last
    assert len(deployments(tmp_path / "models")) == 1


def test_leaderboard_metric_and_direction_are_configurable(tmp_path):
    result, sweep_dir = sweep(
        tmp_path,
        "data=diabetes",
        "trainer.model.n_estimators=5,20",
        "hydra.callbacks.leaderboard.metric=rmse",
    )
    assert result.returncode == 0, result.stderr
    board = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert (board["metric"], board["direction"]) == ("rmse", "lower")
    values = [row["metrics"]["rmse"] for row in board["rows"]]
    assert values == sorted(values)


def test_ray_launcher_starts_and_stops_a_throwaway_local_cluster(tmp_path, one_ray_cluster_at_a_time):
    """Without init.address, ray.init starts a cluster on this machine and stops it after the sweep."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray"))  # short: Ray's socket paths must fit in 107 bytes
    env = {"RAY_TMPDIR": str(ray_tmp), "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    result, sweep_dir = sweep(
        tmp_path,
        "hydra/launcher=ray_local",
        "+hydra.launcher.ray.init.num_cpus=2",
        *FAST,
        "trainer=random_forest,logistic_regression",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    check_one_deployment_per_job(tmp_path / "models", sweep_dir, 2)
    leftovers = run_process(["pgrep", "-f", str(ray_tmp)], tmp_path)
    shutil.rmtree(ray_tmp, ignore_errors=True)
    assert leftovers.stdout.strip() == ""  # the cluster stopped with the sweep


def test_replay_detects_a_changed_data_file(cli, tmp_path, classification_csv):
    assert cli("train", classification_csv, "trainer.model.n_estimators=20").returncode == 0
    [deployment] = deployments(tmp_path / "models")
    assert cli("replay", deployment).returncode == 0
    lines = classification_csv.read_text().splitlines()
    classification_csv.write_text("\n".join(lines[:-30]) + "\n")
    result = cli("replay", deployment)
    assert result.returncode == 1
    assert f"data file {classification_csv}: size" in result.stdout
    assert "FAIL" in result.stdout and "metric accuracy" in result.stdout


def test_replay_with_a_moved_data_file(cli, tmp_path, classification_csv):
    assert cli("train", classification_csv, "trainer.model.n_estimators=20").returncode == 0
    [deployment] = deployments(tmp_path / "models")
    moved = tmp_path / "moved.csv"
    shutil.move(classification_csv, moved)
    assert cli("replay", deployment).returncode == 2  # the recorded file is gone: one clear line
    result = cli("replay", deployment, "--data", moved)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS" in result.stdout
