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
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from easy_mlops.config.compose import compose_config
from easy_mlops.deployment.catalog import list_deployments
from easy_mlops.pipeline import run_experiment

from helpers import BIN, ROOT, check_one_deployment_per_job, deployments, run_process

README = ROOT / "README.md"
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


def run(words: list[str], cwd: Path, env: dict | None = None, cli=None):
    """Run a README command: ``make-mlops-easy`` in this process through ``cli`` (the same
    ``main()`` as the console script) when given, everything else as a real process."""
    if words[0] == "make-mlops-easy" and cli is not None:
        return cli(*words[1:], cwd=cwd)
    programs = {
        "make-mlops-easy": str(BIN / "make-mlops-easy"),
        "python": sys.executable,
        "ray": str(BIN / "ray"),
    }
    return run_process([programs[words[0]], *words[1:]], cwd, env=env, timeout=300)


def sweep_dir(workdir: Path) -> Path:
    [made] = (workdir / "outputs" / "multirun").glob("*/*")
    return made


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
    for name in ("labelled_customers.csv", "data/labelled.csv"):  # labels that came in later
        churn_frame(300, seed=5).to_csv(tmp_path / name, index=False)
    for name in ("new_customers.csv", "new.csv", "data/new.csv", "NEW.csv"):
        # As many new customers as drift needs to tell a real shift from sampling noise.
        churn_frame(500, seed=4).drop(columns=["churn"]).to_csv(tmp_path / name, index=False)
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


def test_activating_the_virtualenv_puts_the_cli_on_the_path(tmp_path):
    """What the README says after make run: the activate line, as written, then the command."""
    [activate] = re.findall(r"`(source \.venv/bin/activate)`", README.read_text(encoding="utf-8"))
    root = tmp_path / "checkout"
    root.mkdir()
    (root / ".venv").symlink_to(BIN.parent)  # the virtualenv make test made, where make run makes it
    result = subprocess.run(
        ["bash", "-c", f"{activate} && command -v make-mlops-easy && make-mlops-easy --version"],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].endswith(".venv/bin/make-mlops-easy")
    assert result.stdout.splitlines()[1].startswith("make-mlops-easy ")


def test_the_first_commands(workdir, cli):
    printed = {}
    for words in block_with("make-mlops-easy train churn.csv"):
        result = run(words, workdir, cli=cli)
        assert result.returncode == 0, f"{shlex.join(words)}\n{result.stderr}"
        assert "Traceback" not in result.stderr
        printed[shlex.join(words)] = result.stdout
    first, latest = [directory for directory, _ in list_deployments(workdir / "models")]
    assert "HistGradientBoostingClassifier" in (latest / "config.yaml").read_text()
    assert len(json.loads((workdir / "out.json").read_text())["predictions"]) == 500
    [proba] = [json.loads(text) for command, text in printed.items() if "--proba" in command]
    assert proba["classes"] == ["no", "yes"] and len(proba["probabilities"]) == 500
    log = (latest / "logs" / "predictions_log.jsonl").read_text().splitlines()
    assert len(log) == 1500  # stdout, -o and --proba: each delivered, each logged (the labels)
    assert not (first / "logs" / "predictions_log.jsonl").exists()


SWEEP = "python -m easy_mlops.run -m trainer=random_forest,hist_gradient_boosting"
# The sweep example opens the sweeps block too: it runs there, with the leaderboard.
HYDRA_APP = [words for words in block_with("python -m easy_mlops.run") if words != block_with(SWEEP)[0]]


@pytest.mark.parametrize("words", HYDRA_APP, ids=[" ".join(w[3:]) or "defaults" for w in HYDRA_APP])
def test_the_hydra_app_examples(words, workdir):
    result = run(words, workdir)
    assert result.returncode == 0, result.stderr
    if "--cfg" in words:
        assert "trainer:" in result.stdout and not (workdir / "models").exists()
        return
    assert len(deployments(workdir / "models")) == 1


def test_a_config_file_in_the_guides_format(workdir, cli):
    [observability] = blocks("yaml")
    (workdir / "mlops.yaml").write_text(observability)
    result = run(["make-mlops-easy", "train", "churn.csv", "-c", "mlops.yaml"], workdir, cli=cli)
    assert result.returncode == 0, result.stderr
    snapshot = (deployments(workdir / "models")[0] / "config.yaml").read_text()
    assert "rmse: 0.45" in snapshot and "rmse: lower" in snapshot


def test_the_status_json_shape(workdir, cli):
    [documented] = blocks("json")
    shape = json.loads(re.sub(r'"\.\.\."', '"x"', documented))
    example_deployment(workdir)
    run(["make-mlops-easy", "predict", "new.csv", "latest"], workdir, cli=cli)
    printed = json.loads(run(["make-mlops-easy", "status", "latest", "--json"], workdir, cli=cli).stdout)
    for section, keys in shape.items():
        missing = set(keys) - set(printed[section])
        if section == "metrics":
            missing -= {"trends"}  # appears from the second metrics log, as the README says
        assert not missing, f"{section}: {missing}"
    # A drift feature's and the prediction's verdicts have the documented keys too.
    documented_drift, printed_drift = shape["drift"], printed["drift"]
    [feature] = documented_drift["features"].values()
    same_stat = [f for f in printed_drift["features"].values() if f["stat"] == feature["stat"]]
    assert same_stat and set(feature) <= set(same_stat[0])
    assert set(documented_drift["prediction"]) <= set(printed_drift["prediction"])


def test_monitoring_after_day_one_examples(workdir, cli):
    example_deployment(workdir)
    for words in block_with("make-mlops-easy predict new_customers.csv latest -o scored.json"):
        result = run(words, workdir, cli=cli)
        assert result.returncode == 0, f"{shlex.join(words)}\n{result.stderr}"
    first, retrained = [directory for directory, _ in list_deployments(workdir / "models")]
    status = json.loads(run(["make-mlops-easy", "status", str(first), "--json"], workdir, cli=cli).stdout)
    assert status["metrics"]["live"]["evaluations"] == 1 and status["drift"]["rows"] == 500
    assert "<svg" in (workdir / "report.html").read_text()
    snapshot = (retrained / "config.yaml").read_text()
    assert "numeric_stat: wasserstein" in snapshot and "window: 7d" in snapshot


def test_a_file_larger_than_memory_example(workdir, cli):
    example_deployment(workdir)
    new = pd.read_csv(workdir / "new.csv")
    pd.concat([new] * 800, ignore_index=True).to_csv(workdir / "events.csv", index=False)  # 400,000 rows
    [words] = block_with("make-mlops-easy predict events.csv latest -o scored.json --chunk-rows 200000")
    result = run(words, workdir, cli=cli)
    assert result.returncode == 0, result.stderr
    assert "wrote 400,000 predictions to scored.json (200,000 rows at a time)" in result.stderr
    assert len(json.loads((workdir / "scored.json").read_text())["predictions"]) == 400_000
    status = json.loads(run(["make-mlops-easy", "status", "latest", "--json"], workdir, cli=cli).stdout)
    assert status["predictions"]["total_predictions"] == 400_000


def test_tracking_examples(workdir, cli):
    from mlflow import MlflowClient

    train, sweep, track = block_with("pip install make-mlops-easy[mlflow]")[1:]
    for words in (train, sweep, track):
        result = run(words, workdir, cli=None if words is sweep else cli)
        assert result.returncode == 0, f"{shlex.join(words)}\n{result.stderr}"
    assert result.stdout.startswith("Logged deployment_")  # track latest: the sweep's last job, logged
    store = (workdir / "mlruns").as_uri()  # ./mlruns: no tracking.uri and no $MLFLOW_TRACKING_URI
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    runs = client.search_runs([client.get_experiment_by_name("churn").experiment_id])
    assert len(runs) == 4  # the train, the sweep's parent and its two jobs
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert sorted(r.data.params["trainer.model.n_estimators"] for r in children) == ["100", "50"]
    registered = [
        directory.name
        for directory, metadata in list_deployments(workdir / "models")
        if (metadata.get("tracking") or {}).get("registered_model")
    ]
    assert registered == [client.get_model_version("churn", "1").tags["easy_mlops.deployment"]]


def test_object_storage_examples(workdir, s3, cli):
    import s3fs

    s3fs.S3FileSystem(endpoint_url=s3["endpoint"], key=s3["key"], secret=s3["secret"]).mkdir("models-prod")
    example_deployment(
        workdir, "deployment=s3", "deployment.s3.bucket=models-prod", "deployment.s3.prefix=churn"
    )
    for words in block_with("pip install make-mlops-easy[s3]")[1:]:
        result = run(words, workdir, cli=cli)
        assert result.returncode == 0, f"{shlex.join(words)}\n{result.stderr}"
        if words[1] == "list":
            assert EXAMPLE_DEPLOYMENT in result.stdout
    assert len(deployments(workdir / "models")) == 2  # the example's and the app's own


def test_sweep_and_leaderboard_examples(workdir, cli):
    sweep, show = block_with(SWEEP)
    result = run(sweep, workdir)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    titles = sorted(line for line in result.stdout.splitlines() if line.startswith("Hold-out metrics"))
    assert titles == [  # each table says which job it is
        "Hold-out metrics (classification), job 0: trainer=random_forest trainer.test_size=0.2",
        "Hold-out metrics (classification), job 1: trainer=random_forest trainer.test_size=0.3",
        "Hold-out metrics (classification), job 2: trainer=hist_gradient_boosting trainer.test_size=0.2",
        "Hold-out metrics (classification), job 3: trainer=hist_gradient_boosting trainer.test_size=0.3",
    ]
    assert "Sweep leaderboard (by accuracy" in result.stdout
    made = sweep_dir(workdir)
    check_one_deployment_per_job(workdir / "models", made, 4)
    (workdir / EXAMPLE_SWEEP).parent.mkdir(parents=True, exist_ok=True)
    made.rename(workdir / EXAMPLE_SWEEP)
    result = run(show, workdir, cli=cli)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("random_forest") == 2 and result.stdout.count("hist_gradient_boosting") == 2


@pytest.mark.parametrize("words", block_with("python -m easy_mlops.run -m search="), ids=["search", "sqlite"])
def test_search_examples(words, workdir):
    result = run(words, workdir)
    assert result.returncode == 0, result.stderr
    trials = int(next(w for w in words if w.startswith("hydra.sweeper.n_trials=")).split("=")[1])
    rows = check_one_deployment_per_job(workdir / "models", sweep_dir(workdir), trials)
    best = yaml.safe_load((sweep_dir(workdir) / "optimization_results.yaml").read_text())
    assert float(rows[0]["accuracy"]) == pytest.approx(best["best_value"])  # optuna's best is rank 1
    for name, value in best["best_params"].items():
        assert f"{name}={value}" in rows[0]["overrides"]
    # No library chatter (alembic's "setup plugin" lines, optuna's INFO); a convergence
    # warning of the MLP search is ours: one line, naming the key to change.
    noise = [line for line in result.stderr.splitlines() if "did not converge" not in line]
    assert noise == [] and "setup plugin" not in result.stdout
    if any(w.startswith("hydra.sweeper.storage=sqlite") for w in words):
        assert (workdir / "optuna.db").stat().st_size > 0


def test_parallel_launcher_examples(workdir):
    joblib, slurm, submitit = block_with("python -m easy_mlops.run -m hydra/launcher=joblib") + block_with(
        "python -m easy_mlops.run -m hydra/launcher=slurm"
    )
    parallel = run(joblib, workdir)
    assert parallel.returncode == 0, parallel.stderr
    assert "[HYDRA]" not in parallel.stdout and "Joblib.Parallel" not in parallel.stdout + parallel.stderr
    check_one_deployment_per_job(workdir / "models", sweep_dir(workdir), 3)
    shutil.rmtree(workdir / "models")
    shutil.rmtree(workdir / "outputs")
    result = run(slurm, workdir)  # no SLURM cluster here: one line that says so
    assert result.returncode == 2 and "srun" in result.stderr and result.stderr.count("\n") == 1
    assert run(submitit, workdir).returncode == 0
    check_one_deployment_per_job(workdir / "models", sweep_dir(workdir), 2)


def stop_ray(workdir: Path, env: dict) -> None:
    """``ray stop``, then wait until its processes are gone: a cluster started next must not meet them."""
    run(["ray", "stop", "--force"], workdir, env)
    deadline = time.monotonic() + 30
    while subprocess.run(["pgrep", "-f", "gcs_server|raylet"], capture_output=True).returncode == 0:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)


def test_ray_examples(workdir, one_ray_cluster_at_a_time):
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray"))  # short: Ray's socket paths must fit in 107 bytes
    env = {"RAY_TMPDIR": str(ray_tmp), "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    start, join = block_with("ray start")
    try:
        assert run(start, workdir, env).returncode == 0
        result = run(join, workdir, env)
        assert result.returncode == 0, result.stderr
        check_one_deployment_per_job(workdir / "models", sweep_dir(workdir), 2)
    finally:
        stop_ray(workdir, env)
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_batch_scoring_on_ray_examples(workdir, cli, one_ray_cluster_at_a_time):
    example_deployment(workdir)
    partitions = workdir / "data" / "partitions"
    partitions.mkdir()
    new = pd.read_csv(workdir / "new.csv")
    for number in range(4):
        new.iloc[number * 125 : (number + 1) * 125].to_csv(partitions / f"part-{number}.csv", index=False)
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray"))
    env = {"RAY_TMPDIR": str(ray_tmp), "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    try:
        for words in block_with("make-mlops-easy predict data/partitions latest --engine ray -o scored"):
            result = run(words, workdir, env)
            assert result.returncode == 0, f"{shlex.join(words)}\n{result.stderr}"
    finally:
        stop_ray(workdir, env)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert sorted(path.name for path in (workdir / "scored").iterdir()) == [f"part-{n}.csv" for n in range(4)]
    status = json.loads(run(["make-mlops-easy", "status", "latest", "--json"], workdir, cli=cli).stdout)
    assert status["predictions"]["total_predictions"] == 500  # twice the same job: each row once


def test_the_python_api_example(workdir, cli):
    example_deployment(workdir)
    assert run(["make-mlops-easy", "init"], workdir, cli=cli).returncode == 0  # writes mlops-config.yaml
    [example] = blocks("python")
    check = "assert predictions and monitor.check_metric_threshold('accuracy', 0.82)\n"
    (workdir / "example.py").write_text(example + check)
    result = run_process([sys.executable, "example.py"], workdir)
    assert result.returncode == 0, result.stderr
    assert len(deployments(workdir / "models")) == 2


def test_serving_examples(workdir):
    example_deployment(workdir)
    _, *commands = block_with("pip install make-mlops-easy[serve]")  # the extra is installed here
    [at] = [number for number, words in enumerate(commands) if words[:2] == ["make-mlops-easy", "serve"]]
    for words in commands[:at]:  # --version, printing what the README's comment shows
        result = run(words, workdir)
        assert result.returncode == 0, result.stderr
        [line] = [line for line in README.read_text().splitlines() if line.startswith(f"{' '.join(words)} ")]
        assert line.split("# ", 1)[1] == result.stdout.strip()
    server = subprocess.Popen(
        [str(BIN / "make-mlops-easy"), *commands[at][1:]],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = server.stdout.readline()
        assert banner.startswith(f"Serving {EXAMPLE_DEPLOYMENT}") and "http://127.0.0.1:8080" in banner, (
            banner
        )
        answers = []
        for request in commands[at + 1 :]:
            answer = subprocess.run(request, cwd=workdir, capture_output=True, text=True, timeout=60)
            assert answer.returncode == 0, answer.stderr
            answers.append(json.loads(answer.stdout))
        [predicted] = [answer for answer in answers if "predictions" in answer]
        assert predicted["predictions"][0] in ("yes", "no")
        [document] = [answer for answer in answers if "openapi" in answer]
        assert document["info"]["version"] == "1.0.0"
        assert document["components"]["schemas"]["Row"]["required"] == [
            "tenure_months",
            "monthly_charges",
            "plan",
        ]
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(60) == 0
