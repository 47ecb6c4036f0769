"""Multirun sweeps with real launchers, the leaderboard, and replay."""

import csv
import json
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from easy_mlops.replay import replay

from conftest import CLI, deployments, run_process

FAST = ["data=breast_cancer"]


def sweep(tmp_path, *overrides, env=None):
    """Run a multirun in tmp_path; return the process and its sweep directory."""
    result = run_process(
        [sys.executable, "-m", "easy_mlops.run", "-m", *overrides], tmp_path, env=env, timeout=300
    )
    sweep_dirs = sorted((tmp_path / "outputs" / "multirun").glob("*/*"))
    return result, sweep_dirs[-1] if sweep_dirs else None


def summary_rows(sweep_dir):
    with open(sweep_dir / "sweep_summary.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def check_one_deployment_per_job(tmp_path, sweep_dir, jobs):
    found = deployments(tmp_path / "models")
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


@pytest.mark.parametrize(
    "launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]], ids=["basic", "joblib"]
)
def test_four_job_sweep(tmp_path, launcher):
    result, sweep_dir = sweep(
        tmp_path, *launcher, *FAST, "trainer=random_forest,logistic_regression", "trainer.test_size=0.2,0.3"
    )
    assert result.returncode == 0, result.stderr
    check_one_deployment_per_job(tmp_path, sweep_dir, 4)
    assert "Sweep leaderboard (by accuracy" in result.stdout

    shown = run_process([CLI, "sweeps", "show", str(sweep_dir), "--json"], tmp_path)
    assert shown.returncode == 0
    assert json.loads(shown.stdout) == json.loads((sweep_dir / "sweep_summary.json").read_text())


def test_a_failing_job_keeps_every_row(tmp_path):
    result, sweep_dir = sweep(tmp_path, *FAST, "trainer.test_size=0.25,1.5")
    assert result.returncode != 0
    rows = {row["overrides"].split()[-1]: row for row in summary_rows(sweep_dir)}
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


def test_optuna_search_with_sqlite_storage(tmp_path):
    result, sweep_dir = sweep(
        tmp_path,
        "search=random_forest",
        "data=breast_cancer",
        "hydra.sweeper.n_trials=3",
        f"hydra.sweeper.storage=sqlite:///{tmp_path}/optuna.db",
        "hydra.sweeper.study_name=rf",
    )
    assert result.returncode == 0, result.stderr
    rows = check_one_deployment_per_job(tmp_path, sweep_dir, 3)
    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert float(rows[0]["accuracy"]) == pytest.approx(best["best_value"])
    for name, value in best["best_params"].items():
        assert f"{name}={value}" in rows[0]["overrides"]
    assert (tmp_path / "optuna.db").stat().st_size > 0


def test_submitit_local_launcher(tmp_path):
    result, sweep_dir = sweep(
        tmp_path, "hydra/launcher=submitit_local", *FAST, "trainer=random_forest,logistic_regression"
    )
    assert result.returncode == 0, result.stderr
    check_one_deployment_per_job(tmp_path, sweep_dir, 2)


def test_ray_launcher_on_a_local_cluster(tmp_path):
    """ray.init with no address starts a cluster on this machine and stops it after the sweep."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray"))  # short: Ray's socket paths must fit in 107 bytes
    env = {"RAY_TMPDIR": str(ray_tmp), "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    result, sweep_dir = sweep(
        tmp_path,
        "hydra/launcher=ray_local",
        "+hydra.launcher.ray.init.num_cpus=2",
        "+hydra.launcher.ray.init.include_dashboard=false",
        "+hydra.launcher.ray.init._node_ip_address=127.0.0.1",
        *FAST,
        "trainer=random_forest,logistic_regression",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    check_one_deployment_per_job(tmp_path, sweep_dir, 2)
    leftovers = run_process(["pgrep", "-f", str(ray_tmp)], tmp_path)
    shutil.rmtree(ray_tmp, ignore_errors=True)
    assert leftovers.stdout.strip() == ""  # the cluster stopped with the sweep


@pytest.mark.parametrize(
    "overrides",
    [
        ["trainer=random_forest", "trainer.model.n_estimators=20"],
        ["trainer=logistic_regression"],
        ["trainer=hist_gradient_boosting", "trainer.model.max_iter=30"],
        ["trainer=mlp", "trainer.model.max_iter=50"],
        ["trainer=linear_regression", "data=diabetes"],
    ],
    ids=lambda o: o[0].split("=")[1],
)
def test_replay_is_identical_for_every_trainer(compose, overrides, regression_csv):
    import warnings

    from easy_mlops.pipeline import run_experiment

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the short MLP run does not converge, which is fine here
        deployment = run_experiment(compose("data=breast_cancer", *overrides))["deployment"]["deployment_dir"]
        report = replay(deployment)
    assert report.identical, report.differences
    assert report.changes == [] and report.compared_predictions > 0


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
