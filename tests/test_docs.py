"""Every example of README.md runs exactly as written, read from the file itself.

Commands are taken from the README's ``bash`` blocks (comments stripped,
``\\`` continuations joined) and run as real processes in a temporary
directory that holds the files they name; the Python block runs as a script;
the YAML block is a config file for ``train -c``; the JSON block's keys are
those ``status --json`` prints.
"""

import json
import re
import shlex
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from easy_mlops.config.compose import compose_config
from easy_mlops.pipeline import run_experiment

from conftest import BIN, CLI, deployments, run_process

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLE_DEPLOYMENT = "deployment_20240101_120000"  # the name the README's examples use
EXAMPLE_SWEEP = "outputs/multirun/2024-01-01/12-00-00"


def blocks(language: str) -> list[str]:
    """The README's fenced code blocks of one language, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)


def commands(block: str) -> list[list[str]]:
    """The block's command lines as argument lists: continuations joined, comments dropped."""
    joined = block.replace("\\\n", " ")
    return [words for line in joined.splitlines() if (words := shlex.split(line, comments=True))]


def block_with(first_command: str) -> list[list[str]]:
    """The commands of the bash block whose first command is, or else starts with, ``first_command``."""
    firsts = [(" ".join(commands(b)[0]), commands(b)) for b in blocks("bash")]
    found = [c for first, c in firsts if first == first_command] or [
        c for first, c in firsts if first.startswith(first_command)
    ]
    assert len(found) == 1, f"no single README block starts with {first_command!r}"
    return found[0]


def run(words: list[str], cwd: Path, env: dict | None = None):
    program = {"make-mlops-easy": CLI, "python": sys.executable, "ray": str(BIN / "ray")}[words[0]]
    return run_process([program, *words[1:]], cwd, env=env, timeout=300)


def churn_frame(rows: int = 400, seed: int = 3) -> pd.DataFrame:
    """A churn table a model gets right (every metric above the default 0.8 threshold)."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows)
    charges = rng.normal(70, 20, rows).round(2)
    plan = rng.choice(["basic", "plus", "pro"], rows)
    churn = np.where((tenure < 24) & (charges > 60), "yes", "no")
    return pd.DataFrame({"tenure_months": tenure, "monthly_charges": charges, "plan": plan, "churn": churn})


@pytest.fixture
def workdir(tmp_path) -> Path:
    """A directory with the data files the README's commands name."""
    frame = churn_frame()
    for name in ("churn.csv", "data/churn.csv"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        frame.to_csv(tmp_path / name, index=False)
    for name in ("new_customers.csv", "new.csv", "data/new.csv", "NEW.csv"):
        churn_frame(50, seed=4).drop(columns=["churn"]).to_csv(tmp_path / name, index=False)
    return tmp_path


def example_deployment(workdir: Path, *overrides: str) -> Path:
    """``models/deployment_20240101_120000``, made at the time its name says."""
    noon = datetime(2024, 1, 1, 12, 0, 0).astimezone(UTC)
    cfg = compose_config(
        [
            "data=csv",
            f"data.path={workdir / 'churn.csv'}",
            f"deployment.output_dir={workdir / 'models'}",
            "trainer.model.n_estimators=10",
            *overrides,
        ]
    )
    deployed = run_experiment(cfg, clock=lambda: noon)["deployment"]["deployment_dir"]
    assert Path(deployed).name == EXAMPLE_DEPLOYMENT
    return Path(deployed)


def test_the_first_commands(workdir):
    for words in block_with("make-mlops-easy train churn.csv"):
        result = run(words, workdir)
        assert result.returncode == 0, f"{shlex.join(words)}\n{result.stderr}"
        assert "Traceback" not in result.stderr
    [deployment] = deployments(workdir / "models")
    assert len(json.loads((workdir / "out.json").read_text())["predictions"]) == 50
    log = (deployment / "logs" / "predictions_log.jsonl").read_text().splitlines()
    assert len(log) == 100  # stdout and -o: both delivered, both logged


HYDRA_APP = block_with("python -m easy_mlops.run")


@pytest.mark.parametrize("words", HYDRA_APP, ids=[" ".join(w[3:]) or "defaults" for w in HYDRA_APP])
def test_the_hydra_app_examples(words, workdir):
    result = run(words, workdir)
    assert result.returncode == 0, result.stderr
    if "--cfg" in words:
        assert "trainer:" in result.stdout and not (workdir / "models").exists()
        return
    jobs = max(1, np.prod([len(w.split("=", 1)[1].split(",")) for w in words if "," in w]))
    assert len(deployments(workdir / "models")) == jobs


def test_a_config_file_in_the_guides_format(workdir):
    [observability] = blocks("yaml")
    (workdir / "mlops.yaml").write_text(observability)
    result = run(["make-mlops-easy", "train", "churn.csv", "-c", "mlops.yaml"], workdir)
    assert result.returncode == 0, result.stderr
    snapshot = (deployments(workdir / "models")[0] / "config.yaml").read_text()
    assert "rmse: 0.45" in snapshot and "rmse: lower" in snapshot


def test_the_status_json_shape(workdir):
    [documented] = blocks("json")
    shape = json.loads(re.sub(r'"\.\.\."', '"x"', documented))
    example_deployment(workdir)
    run(["make-mlops-easy", "predict", "new.csv", "latest"], workdir)
    result = run(["make-mlops-easy", "status", "latest", "--json"], workdir)
    printed = json.loads(result.stdout)
    for section, keys in shape.items():
        missing = set(keys) - set(printed[section])
        if section == "metrics":
            missing -= {"trends"}  # appears from the second metrics log, as the README says
        assert not missing, f"{section}: {missing}"


def test_object_storage_examples(workdir, s3):
    import s3fs

    s3fs.S3FileSystem(endpoint_url=s3["endpoint"], key=s3["key"], secret=s3["secret"]).mkdir("models-prod")
    example_deployment(
        workdir, "deployment=s3", "deployment.s3.bucket=models-prod", "deployment.s3.prefix=churn"
    )
    for words in block_with("pip install make-mlops-easy[s3]")[1:]:
        result = run(words, workdir)
        assert result.returncode == 0, f"{shlex.join(words)}\n{result.stderr}"
        if words[1] == "list":
            assert EXAMPLE_DEPLOYMENT in result.stdout
    assert len(deployments(workdir / "models")) == 2  # the example's and the app's own


def test_sweep_and_leaderboard_examples(workdir):
    sweep, show = block_with("python -m easy_mlops.run -m trainer=random_forest,hist_gradient_boosting")
    assert run(sweep, workdir).returncode == 0
    [made] = (workdir / "outputs" / "multirun").glob("*/*")
    (workdir / EXAMPLE_SWEEP).parent.mkdir(parents=True, exist_ok=True)
    made.rename(workdir / EXAMPLE_SWEEP)
    result = run(show, workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("random_forest") == 2 and result.stdout.count("hist_gradient_boosting") == 2


@pytest.mark.parametrize("words", block_with("python -m easy_mlops.run -m search="), ids=["search", "sqlite"])
def test_search_examples(words, workdir):
    result = run(words, workdir)
    assert result.returncode == 0, result.stderr
    trials = int(next(w for w in words if w.startswith("hydra.sweeper.n_trials=")).split("=")[1])
    assert len(deployments(workdir / "models")) == trials
    assert "setup plugin" not in result.stdout + result.stderr


def test_parallel_launcher_examples(workdir):
    joblib, slurm, submitit = block_with("python -m easy_mlops.run -m hydra/launcher=joblib") + block_with(
        "python -m easy_mlops.run -m hydra/launcher=slurm"
    )
    assert run(joblib, workdir).returncode == 0
    assert len(deployments(workdir / "models")) == 3
    result = run(slurm, workdir)  # no SLURM cluster here: one line that says so
    assert result.returncode == 2 and "srun" in result.stderr and result.stderr.count("\n") == 1
    assert run(submitit, workdir).returncode == 0
    assert len(deployments(workdir / "models")) == 5


def test_ray_examples(workdir):
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray"))  # short: Ray's socket paths must fit in 107 bytes
    env = {"RAY_TMPDIR": str(ray_tmp), "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    start, join, throwaway = block_with("ray start")
    try:
        assert run(start, workdir, env).returncode == 0
        result = run(join, workdir, env)
        assert result.returncode == 0, result.stderr
    finally:
        run(["ray", "stop", "--force"], workdir, env)
    result = run(throwaway, workdir, env)
    assert result.returncode == 0, result.stderr
    assert len(deployments(workdir / "models")) == 4
    shutil.rmtree(ray_tmp, ignore_errors=True)


def test_the_python_api_example(workdir):
    example_deployment(workdir)
    assert run(["make-mlops-easy", "init"], workdir).returncode == 0  # writes mlops-config.yaml
    [example] = blocks("python")
    (workdir / "example.py").write_text(
        example + "assert predictions and monitor.check_metric_threshold('accuracy', 0.82)\n"
    )
    result = run_process([sys.executable, "example.py"], workdir)
    assert result.returncode == 0, result.stderr
    assert len(deployments(workdir / "models")) == 2
