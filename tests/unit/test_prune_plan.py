"""What ``prune`` would remove: :func:`prune_plan` over deployments and sweep leaderboards on disk.

Each deployment is a directory with the metadata the deployer writes
(:func:`build_metadata`, made at a given minute) and nothing else, since the
plan reads nothing else; each sweep's leaderboard is written by the sweep's
own :func:`rank` and :func:`write_summary`. ``prune`` itself (removal, its
output) is in tests/e2e/test_new_user.py.
"""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from easy_mlops.deployment.catalog import prune_plan
from easy_mlops.deployment.metadata import build_metadata
from easy_mlops.errors import DeploymentError
from easy_mlops.files import write_json_atomic
from easy_mlops.sweeps.board import rank, write_summary


class Models:
    """A models directory filled in the order deployments are made, one minute apart."""

    def __init__(self, root: Path) -> None:
        self.root, self.made = root / "models", 0

    def deploy(self, name: str, metrics: dict, sweep: Path | None = None, label: str | None = None) -> Path:
        directory = self.root / name
        directory.mkdir(parents=True)
        self.made += 1
        metadata = build_metadata(
            name=name,
            directory=directory,
            metadata_name="metadata.json",
            version="1.0.0",
            deployment_time=label,  # the label a user may set; the plan goes by created_at
            training_results={"problem_type": "regression", "metrics": metrics, "optimized_metric": "r2"},
            artifacts={},
            input_schema=[],
            run_info={"hydra": {"mode": "MULTIRUN", "sweep_dir": str(sweep)}} if sweep else {},
            created_at=datetime(2024, 1, 1, 12, self.made, tzinfo=UTC),
        )
        write_json_atomic(directory / "metadata.json", metadata)
        return directory

    def sweep(self, tag: str, r2s: list[float], leaderboard: bool = True) -> dict[float, Path]:
        """One deployment per job, each with its R² (and an RMSE that is lower when R² is higher)."""
        sweep_dir = self.root.parent / "multirun" / tag
        sweep_dir.mkdir(parents=True)
        made = {
            r2: self.deploy(f"{tag}_job{job}", {"r2": r2, "rmse": 1 - r2}, sweep_dir)
            for job, r2 in enumerate(r2s)
        }
        rows = [
            {
                "job": job,
                "status": "ok",
                "overrides": f"job={job}",
                "metrics": {"r2": r2},
                "deployment_dir": str(path),
            }
            for job, (r2, path) in enumerate(made.items())
        ]
        if leaderboard:
            write_summary(sweep_dir, rank(rows, "r2"))
        return made


def names(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


@pytest.fixture
def models(tmp_path) -> Models:
    """Two sweeps of three jobs and three single runs, made in this order:
    single_a, sweep a (R² 0.5, 0.9, 0.7), single_b, sweep b (0.6, 0.8, 0.4), single_c (latest)."""
    models = Models(tmp_path)
    models.deploy("single_a", {"r2": 0.99})
    models.sweep("a", [0.5, 0.9, 0.7])
    models.deploy("single_b", {"r2": 0.1})
    models.sweep("b", [0.6, 0.8, 0.4])
    models.deploy("single_c", {"r2": 0.3})
    return models


def test_keep_the_newest_removes_the_rest_oldest_first_but_never_latest_or_a_sweeps_best(models):
    assert names(prune_plan(models.root, keep=3)) == [
        "single_a",
        "a_job0",
        "a_job2",  # a_job1 is sweep a's rank 1
        "single_b",
        "b_job0",
    ]  # kept: b_job1 (b's rank 1), b_job2 and single_c (the newest three)
    assert names(prune_plan(models.root, keep=0)) == [
        "single_a",
        "a_job0",
        "a_job2",
        "single_b",
        "b_job0",
        "b_job2",
    ]  # single_c is latest


def test_keep_best_keeps_each_sweeps_best_by_its_optimized_metric_and_touches_no_single_run(models):
    assert names(prune_plan(models.root, keep_best=2)) == ["a_job0", "b_job2"]
    assert names(prune_plan(models.root, keep_best=1)) == ["a_job0", "a_job2", "b_job0", "b_job2"]
    assert names(prune_plan(models.root, keep_best=3)) == []


def test_a_lower_is_better_metric_keeps_the_lowest(models):
    # RMSE = 1 - R²: the same jobs are best, found from the other end.
    assert names(prune_plan(models.root, keep_best=1, metric="rmse")) == names(
        prune_plan(models.root, keep_best=1)
    )
    # With nothing protected, what stays of each sweep is its lowest RMSE: a_job1 and b_job1.
    assert names(prune_plan(models.root, keep_best=1, metric="rmse", include_protected=True)) == [
        "a_job0",
        "a_job2",
        "b_job0",
        "b_job2",
    ]


def test_include_protected_lets_latest_and_a_sweeps_best_go(models):
    everything = [
        "single_a",
        "a_job0",
        "a_job1",
        "a_job2",
        "single_b",
        "b_job0",
        "b_job1",
        "b_job2",
        "single_c",
    ]
    assert names(prune_plan(models.root, keep=0, include_protected=True)) == everything
    assert names(prune_plan(models.root, keep=1, include_protected=True)) == everything[:-1]
    # Each sweep's best by its metric stays, and nothing else of it.
    assert names(prune_plan(models.root, keep_best=1, include_protected=True)) == [
        "a_job0",
        "a_job2",
        "b_job0",
        "b_job2",
    ]


def test_keep_and_keep_best_together_keep_either(models):
    assert names(prune_plan(models.root, keep=2, keep_best=2)) == ["single_a", "a_job0", "single_b"]


def test_a_job_without_the_metric_ranks_last_and_a_sweep_without_a_leaderboard_protects_nothing(tmp_path):
    models = Models(tmp_path)
    models.sweep("c", [-0.5, 0.7], leaderboard=False)  # R² below 0: worse than the mean
    models.deploy("c_failed", {"mae": 3.0}, tmp_path / "multirun" / "c")  # a job that has no R²
    models.deploy("single", {"r2": 0.5})
    assert names(prune_plan(models.root, keep_best=2)) == ["c_failed"]
    assert names(prune_plan(models.root, keep=0)) == ["c_job0", "c_job1", "c_failed"]  # only latest stays


def test_the_order_is_when_each_was_made_not_its_label_and_only_deployments_are_planned(tmp_path):
    models = Models(tmp_path)
    models.deploy("made_first", {"r2": 0.5}, label="2030-01-01T00:00:00+00:00")
    models.deploy("made_second", {"r2": 0.5}, label="2001-01-01T00:00:00+00:00")
    (models.root / "my_notes").mkdir()  # a folder the user made
    (models.root / ".deployment_20240101_120000.partial").mkdir()  # one being made
    assert names(prune_plan(models.root, keep=1)) == ["made_first"]
    assert names(prune_plan(models.root, keep=0, include_protected=True)) == ["made_first", "made_second"]


def test_the_plan_needs_to_be_told_what_to_keep_in_one_line(models):
    for kwargs, says in (
        ({}, "say what to keep: --keep N (newest) and/or --keep-best K (per sweep)"),
        ({"keep": -1}, "--keep and --keep-best must be 0 or more"),
        ({"keep_best": -2}, "--keep and --keep-best must be 0 or more"),
    ):
        with pytest.raises(DeploymentError) as refused:
            prune_plan(models.root, **kwargs)
        assert str(refused.value) == says
    assert prune_plan(models.root.parent / "nothing_here", keep=0) == []
