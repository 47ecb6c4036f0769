"""Reliability and safety: kills, concurrency, integrity, hostile configs, full disks, secrets."""

import json
import multiprocessing
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from easy_mlops.deployment import DeploymentStep, ModelDeployer
from easy_mlops.deployment.catalog import collect_garbage, list_deployments, resolve_deployment
from easy_mlops.deployment.loading import load_deployment
from easy_mlops.pipeline import run_experiment

from helpers import deployments

FORK = multiprocessing.get_context("fork")


def deploy_forever(cfg):
    while True:
        run_experiment(cfg)


def check_every_listed_deployment_is_complete(output: Path) -> int:
    listed = list_deployments(output)
    for directory, metadata in listed:
        load_deployment(directory)  # every artifact present, sizes and checksums as recorded
        for name in metadata["files"]:
            assert (directory / name).is_file()
        assert (directory / "logs").is_dir()
    if listed:
        assert resolve_deployment("latest", output) == listed[-1][0]
    return len(listed)


class HoldStep(DeploymentStep):
    """Holds a deployment mid-way (after the model is written) until ``path`` exists."""

    name = "hold"

    def __init__(self, path: str, enabled: bool = True) -> None:
        super().__init__(enabled)
        self.path = Path(path)

    def run(self, context) -> None:
        while not self.path.exists():
            time.sleep(0.01)


def test_sigkill_at_random_moments_never_leaves_an_incomplete_deployment(compose, models_dir, tmp_path):
    cfg = compose("trainer.model.n_estimators=3")
    run_experiment(cfg)  # warm up imports before forking; the one deployment made outside the kills
    rng = random.Random(7)
    # One child lives long enough to finish deployments; the others die at random moments of theirs.
    for delay in [1.5] + [rng.uniform(0.02, 0.4) for _ in range(12)]:
        child = FORK.Process(target=deploy_forever, args=(cfg,))
        child.start()
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        assert child.exitcode == -signal.SIGKILL
        check_every_listed_deployment_is_complete(models_dir)
    # And one killed for certain mid-deployment: held inside its steps, its model already written.
    ModelDeployer.register_step(HoldStep)
    held = compose("trainer.model.n_estimators=3", f"+deployment.steps.hold.path={tmp_path / 'never'}")
    child = FORK.Process(target=deploy_forever, args=(held,))
    child.start()
    deadline = time.monotonic() + 60
    while not list(models_dir.glob(".*.partial/*/model.joblib")) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    leftovers = [p for p in models_dir.iterdir() if p.name.startswith(".")]
    finished = check_every_listed_deployment_is_complete(models_dir)
    print(f"14 kills: {finished} finished deployments, {len(leftovers)} leftovers, 0 incomplete listed")
    assert finished >= 2  # killed children finished deployments too, not only the warm-up run
    assert leftovers and all(p.name.endswith(".partial") for p in leftovers)
    assert resolve_deployment("latest", models_dir).name not in {p.name[1:-8] for p in leftovers}
    removed = collect_garbage(models_dir, grace_seconds=0)
    assert sorted(removed) == sorted(leftovers)
    assert check_every_listed_deployment_is_complete(models_dir) == finished
    assert all(not p.name.startswith(".") and (p / "metadata.json").is_file() for p in models_dir.iterdir())


def test_gc_keeps_young_leftovers_and_the_cli_removes_old_ones(cli, compose, models_dir):
    run_experiment(compose("trainer.model.n_estimators=3"))
    staging = models_dir / ".deployment_20000101_000000.partial"
    reservation = models_dir / "deployment_20000101_000000"
    staging.mkdir()
    (staging / "model.joblib").write_bytes(b"half")
    reservation.mkdir()
    assert collect_garbage(models_dir) == []  # within the grace period: maybe still running
    old = time.time() - 7200
    for path in (staging, reservation):
        os.utime(path, (old, old))
    result = cli("gc", models_dir)
    assert result.returncode == 0 and "2 leftover(s) removed" in result.stdout
    assert not staging.exists() and not reservation.exists()
    assert len(deployments(models_dir)) == 1


def train_once(cfg, barrier):
    barrier.wait()
    run_experiment(cfg)


def test_eight_parallel_trainings_make_eight_complete_deployments(compose, models_dir):
    cfg = compose("trainer.model.n_estimators=5")
    barrier = FORK.Barrier(8)
    children = [FORK.Process(target=train_once, args=(cfg, barrier)) for _ in range(8)]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
        assert child.exitcode == 0
    found = deployments(models_dir)
    assert len(found) == 8 and len({p.name for p in found}) == 8
    assert check_every_listed_deployment_is_complete(models_dir) == 8
    assert [p for p in models_dir.iterdir() if p.name.startswith(".")] == []


def test_tampered_joblib_is_refused_before_unpickling(cli, compose, tmp_path):
    deployment = Path(run_experiment(compose())["deployment"]["deployment_dir"])
    from easy_mlops.data.loaders import load_bundled

    load_bundled("iris").drop(columns=["target"]).to_csv(tmp_path / "x.csv", index=False)
    model = deployment / "model.joblib"
    model.write_bytes(model.read_bytes()[:-1] + b"\x00")  # same size, other bytes
    for command in (("predict", "x.csv", deployment), ("status", deployment)):
        result = cli(*command)
        assert result.returncode == 2
        assert (
            result.stderr.strip()
            == f"error: {model}: checksum differs from the metadata (modified); refusing to load it"
        )
    assert cli("status", deployment, "--skip-verify").returncode == 0


@pytest.mark.parametrize("target", ["os.system", "builtins.eval", "subprocess.call"])
def test_a_config_file_cannot_run_arbitrary_code(cli, tmp_path, classification_csv, target):
    (tmp_path / "evil.yaml").write_text(
        "deployment:\n  steps:\n    - create_directory\n    - type: save_model\n"
        f"      params:\n        filename: m.joblib\n        _target_: {target}\n"
    )
    result = cli("train", classification_csv, "-c", "evil.yaml")
    assert result.returncode == 2
    assert f"'{target}' is not in a trusted module" in result.stderr
    assert not (tmp_path / "models").exists()


def test_secret_sections_and_secret_keys_are_never_written_or_printed(
    cli, tmp_path, classification_csv, models_dir
):
    result = cli(
        "train",
        classification_csv,
        "+secrets.db_password=hunter2-xyz",
        "+deployment.upload.storage_options.token=tok-987",
    )
    assert result.returncode == 0, result.stderr
    [deployment] = deployments(models_dir)
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".csv":
            content = path.read_bytes()
            assert b"hunter2-xyz" not in content and b"tok-987" not in content, path
    for text in (result.stdout, result.stderr):
        assert "hunter2-xyz" not in text and "tok-987" not in text
    assert (
        "+secrets.db_password=***"
        in json.loads((deployment / "metadata.json").read_text())["run"]["overrides"]
    )


def mount_tmpfs(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB file system (tmpfs): writing a forest model there runs out of space."""
    disk = tmp_path / "disk"
    if not mount_tmpfs(disk, "size=1m"):
        pytest.skip("mounting a tmpfs needs root")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_is_one_line_and_loses_nothing(cli, small_disk, classification_csv):
    output = small_disk / "models"
    first = cli("train", classification_csv, f"deployment.output_dir={output}", "trainer=logistic_regression")
    assert first.returncode == 0, first.stderr
    [kept] = deployments(output)
    before = {p.name: p.read_bytes() for p in kept.iterdir() if p.is_file()}
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (small_disk / "filler").write_bytes(b"\0" * max(0, free - 64 * 1024))
    result = cli(
        "train", classification_csv, f"deployment.output_dir={output}", "trainer.model.n_estimators=200"
    )
    assert result.returncode == 2
    line = result.stderr.strip()
    assert line.count("\n") == 0 and "No space left on device" in line and "deployment step" in line
    assert deployments(output) == [kept]
    assert [p.name for p in output.iterdir()] == [kept.name]  # no staging, no reservation left
    assert {p.name: p.read_bytes() for p in kept.iterdir() if p.is_file()} == before


def test_a_read_only_output_directory_is_one_line(cli, tmp_path, classification_csv):
    read_only = tmp_path / "ro"
    if not mount_tmpfs(read_only, "ro"):
        pytest.skip("mounting a tmpfs needs root")
    try:
        result = cli("train", classification_csv, f"deployment.output_dir={read_only / 'models'}")
        assert result.returncode == 2
        line = result.stderr.strip()
        assert line.count("\n") == 0 and "Read-only file system" in line and "create_directory" in line
    finally:
        subprocess.run(["umount", "-l", str(read_only)], check=False)


# A key that a secret interpolates, and a value built from a secret, are as secret as the secret.
SECRETS_BY_INTERPOLATION = (
    "+team_id=AKIA-team-77",
    "+deployment.upload.storage_options.key=${team_id}",
    "+secrets.db_password=hunter2-xyz",
    "+team_url='db://admin:${secrets.db_password}@db.internal'",
)


@pytest.mark.parametrize("multirun", [False, True], ids=["run", "multirun"])
def test_hydra_files_and_logs_never_show_a_secret_override(hydra_app, tmp_path, multirun):
    sweep = ["-m", "trainer=random_forest,logistic_regression"] if multirun else []
    result = hydra_app(*sweep, "data=wine", *SECRETS_BY_INTERPOLATION)
    assert result.returncode == 0, result.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.parent.name == ".hydra" for p in written)
    for path in written:
        content = path.read_bytes()
        assert b"hunter2-xyz" not in content and b"AKIA-team-77" not in content, path
    assert "hunter2-xyz" not in result.stdout + result.stderr
    assert "AKIA-team-77" not in result.stdout + result.stderr
    if multirun:  # the launcher logs each job's overrides, masked
        assert "+secrets.db_password=***" in result.stdout + result.stderr
        assert "+team_id=***" in result.stdout + result.stderr
    hydra_overrides = next(p for p in written if p.parent.name == ".hydra" and p.name == "overrides.yaml")
    assert "+secrets.db_password=***" in hydra_overrides.read_text()
    assert "+team_id=***" in hydra_overrides.read_text()


def test_the_snapshot_keeps_interpolations_that_reach_a_secret(cli, tmp_path, classification_csv, models_dir):
    result = cli("train", classification_csv, *SECRETS_BY_INTERPOLATION, "+team_host=db.internal")
    assert result.returncode == 0, result.stderr
    [deployment] = deployments(models_dir)
    snapshot = yaml.safe_load((deployment / "config.yaml").read_text())
    assert snapshot["team_id"] == "***"  # the key interpolates it
    assert snapshot["deployment"]["upload"]["storage_options"]["key"] == "${team_id}"
    assert snapshot["secrets"]["db_password"] == "***"
    assert snapshot["team_url"] == "db://admin:${secrets.db_password}@db.internal"  # built from the password
    assert snapshot["team_host"] == "db.internal"  # nothing secret reaches it
    assert "+team_id=***" in json.loads((deployment / "metadata.json").read_text())["run"]["overrides"]
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".csv":
            content = path.read_bytes()
            assert b"hunter2-xyz" not in content and b"AKIA-team-77" not in content, path
    assert "AKIA-team-77" not in result.stdout + result.stderr
