"""What a new user types first: commands in natural order, the guide's YAML, `latest`, predict, prune."""

import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from easy_mlops.pipeline import run_experiment

from helpers import ROOT, deployments

SMALL = "trainer.model.n_estimators=5"

GUIDE_COMPLETE_EXAMPLE = """\
observability:
  track_metrics: true
  log_predictions: true
  alert_threshold: 0.82              # used when no per metric override exists
  metric_thresholds:
    f1_score: 0.78
    rmse: 0.45
  metric_directions:
    rmse: lower                      # explicit direction for custom metrics
  steps:
    - metrics_logger
    - predictions_logger
    - type: metric_threshold
      params:
        default_threshold: 0.82
        metric_thresholds:
          precision: 0.75
"""


# --------------------------------------------------------------------------- options and overrides


@pytest.mark.parametrize(
    "args",
    [
        ["train", "{data}", "--target", "churn", "trainer=logistic_regression"],
        ["train", "--target", "churn", "{data}", "trainer=logistic_regression", "--no-deploy"],
        ["train", "trainer=logistic_regression", "{data}", "--target", "churn"],
        ["train", "-c", "{config}", "{data}", "trainer=logistic_regression", "deployment.version=3.0.0"],
        ["train", "{data}", "-c", "{config}", "trainer=logistic_regression", "--debug"],
        ["--debug", "train", "{data}", "trainer=logistic_regression", "-c", "{config}"],
    ],
    ids=[
        "overrides-after-option",
        "option-between",
        "override-first",
        "c-first",
        "debug-after",
        "debug-before",
    ],
)
def test_options_and_overrides_mix_in_any_order(args, cli, tmp_path, classification_csv, models_dir):
    (tmp_path / "c.yaml").write_text("deployment:\n  version: 2.1.0\n")
    args = [a.format(data=classification_csv, config="c.yaml") for a in args]
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    assert "Hold-out metrics" in result.stdout
    if "--no-deploy" in args:
        assert deployments(models_dir) == []
        return
    [deployment] = deployments(models_dir)
    snapshot = (deployment / "config.yaml").read_text()
    assert "sklearn.linear_model.LogisticRegression" in snapshot
    version = json.loads((deployment / "metadata.json").read_text())["version"]
    assert version == (
        "3.0.0" if "deployment.version=3.0.0" in args else "2.1.0" if "-c" in args else "1.0.0"
    )


def test_an_unknown_option_shows_the_sub_command_usage(cli, classification_csv, models_dir):
    result = cli("train", classification_csv, "--tagret", "churn", "trainer=mlp")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: make-mlops-easy train DATA")
    assert "unrecognized arguments: --tagret" in result.stderr
    assert deployments(models_dir) == []
    result = cli("status", "latest", "trainer=mlp")  # status takes no overrides
    assert result.returncode == 2 and "usage: make-mlops-easy status" in result.stderr


def test_debug_after_the_sub_command_shows_the_traceback(cli_process, tmp_path):
    result = cli_process("train", tmp_path / "absent.csv", "trainer=mlp", "--debug")
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "absent.csv" in result.stderr


def test_version_prints_the_packages_version(cli_process):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    result = cli_process("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"make-mlops-easy {project['version']}\n" and result.stderr == ""


# --------------------------------------------------------------------------- metric-name maps


def test_metric_thresholds_take_any_metric_name(cli, tmp_path, classification_csv, models_dir):
    (tmp_path / "t.yaml").write_text("observability:\n  metric_thresholds:\n    accuracy: 0.999\n")
    result = cli("train", classification_csv, "-c", "t.yaml", SMALL)
    assert result.returncode == 0, result.stderr
    assert "ALERT: accuracy" in result.stdout  # 0.999 is out of reach: the threshold was applied
    result = cli("train", classification_csv, "observability.metric_thresholds.accuracy=0.999", SMALL)
    assert result.returncode == 0, result.stderr
    assert "ALERT: accuracy" in result.stdout
    (tmp_path / "g.yaml").write_text(GUIDE_COMPLETE_EXAMPLE)
    result = cli("train", classification_csv, "-c", "g.yaml", SMALL)
    assert result.returncode == 0, result.stderr
    snapshot = (deployments(models_dir)[-1] / "config.yaml").read_text()
    assert "precision: 0.75" in snapshot and "rmse: lower" in snapshot


def test_the_struct_check_stays_for_every_other_key(cli, classification_csv):
    result = cli("train", classification_csv, "observability.alert_treshold=0.9")
    assert result.returncode == 2
    assert "did you mean 'observability.alert_threshold'?" in result.stderr
    assert "+observability.alert_treshold" not in result.stderr  # no invitation to add the typo
    result = cli("train", classification_csv, "observability.metric_thresholds.accuracy=high")
    assert result.returncode == 2 and "accuracy" in result.stderr


@pytest.mark.parametrize(
    "override, suggestion",
    [
        ("trainer.n_estimators=5", "trainer.model.n_estimators"),
        ("deployment.metadata_filname=m.json", "deployment.metadata_filename"),
    ],
)
def test_a_misspelt_key_gets_the_closest_existing_key(
    override, suggestion, cli, hydra_app, classification_csv
):
    for result in (cli("train", classification_csv, override), hydra_app(override)):
        assert result.returncode == 2
        assert f"did you mean '{suggestion}'?" in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1


# --------------------------------------------------------------------------- latest


def test_latest_is_the_deployment_made_last_whatever_its_deployment_time(cli, compose, models_dir):
    first = run_experiment(compose(SMALL))["deployment"]["deployment_dir"]
    replayed = run_experiment(compose(SMALL, "deployment.deployment_time='2024-05-01T09:00:00Z'"))
    second = replayed["deployment"]["deployment_dir"]
    assert first != second
    listed = cli("list", models_dir, "--json")
    assert [row["directory"] for row in json.loads(listed.stdout)] == [first, second]
    status = json.loads(cli("status", "latest", "--json", cwd=models_dir.parent).stdout)
    assert status["deployment"]["directory"] == second
    assert status["deployment"]["deployment_time"] == "2024-05-01T09:00:00Z"


def test_every_command_finds_latest_in_another_folder_and_says_which(
    cli, compose, classification_csv, tmp_path, models_dir
):
    """``deployment.output_dir=DIR`` (as train takes it) or ``--models DIR``, typed anywhere."""
    elsewhere = tmp_path / "artifacts"
    cfg = compose(SMALL, "data=csv", f"data.path={classification_csv}", f"deployment.output_dir={elsewhere}")
    made = run_experiment(cfg)["deployment"]["deployment_dir"]
    said = f"latest: {elsewhere / Path(made).name}"
    out = tmp_path / "out.json"
    for words in (
        ["status", "latest", f"deployment.output_dir={elsewhere}", "--json"],
        ["status", f"deployment.output_dir={elsewhere}", "latest"],
        ["observe", "--models", str(elsewhere), "latest"],
        ["predict", classification_csv, "latest", f"deployment.output_dir={elsewhere}", "-o", out],
        ["predict", f"deployment.output_dir={elsewhere}", classification_csv, "latest", "-o", out],
        ["evaluate", classification_csv, "latest", "--models", str(elsewhere)],
        ["replay", "latest", f"deployment.output_dir={elsewhere}"],
    ):
        result = cli(*words)
        assert result.returncode == 0, (words, result.stderr)
        assert said in result.stderr.splitlines(), words
    by_name = cli("status", Path(made).name, "--models", elsewhere, "--json")
    assert json.loads(by_name.stdout)["deployment"]["directory"] == made and by_name.stderr == ""
    listed = json.loads(cli("list", f"deployment.output_dir={elsewhere}", "--json").stdout)
    assert [row["directory"] for row in listed] == [made]
    assert not models_dir.exists()  # nothing looked for or written under ./models
    missing = cli("status", "latest")  # ./models has none
    assert missing.returncode == 2 and "no finished deployments to take as 'latest'" in missing.stderr


# --------------------------------------------------------------------------- predict


@pytest.fixture
def deployed(compose, classification_csv, models_dir) -> Path:
    cfg = compose(SMALL, "data=csv", f"data.path={classification_csv}")
    return Path(run_experiment(cfg)["deployment"]["deployment_dir"])


def test_predict_to_a_missing_folder_is_one_line_and_logs_nothing(cli, deployed, classification_csv):
    result = cli("predict", classification_csv, deployed, "-o", "missing_dir/out.json")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == "error: missing_dir/out.json: output folder missing_dir does not exist"
    assert not (deployed / "logs" / "predictions_log.jsonl").exists()
    result = cli("predict", classification_csv, deployed, "-o", deployed)  # a directory
    assert result.returncode == 2 and "is a directory" in result.stderr
    assert not (deployed / "logs" / "predictions_log.jsonl").exists()


def test_predict_checks_the_data_file_before_loading_the_deployment(cli, deployed, tmp_path):
    (deployed / "model.joblib").write_bytes(b"not a model")  # loading it would fail
    result = cli("predict", tmp_path / "nope.csv", deployed)
    assert result.returncode == 2
    assert "nope.csv: data file not found" in result.stderr and "model.joblib" not in result.stderr


def test_predictions_are_logged_after_they_were_written(cli, deployed, classification_csv, tmp_path):
    result = cli("predict", classification_csv, deployed, "-o", tmp_path / "out.json")
    assert result.returncode == 0, result.stderr
    written = json.loads((tmp_path / "out.json").read_text())["predictions"]
    log = (deployed / "logs" / "predictions_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["prediction"] for line in log] == written


# --------------------------------------------------------------------------- endpoint script


def test_the_endpoint_script_usage_line_names_the_script(compose, models_dir):
    cfg = compose(
        SMALL,
        "deployment.steps.endpoint_script.enabled=true",
        "deployment.steps.endpoint_script.filename=predict.sh",
    )
    script = run_experiment(cfg)["deployment"]["endpoint_path"]
    result = subprocess.run([sys.executable, script], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == "usage: python predict.sh DATA_FILE"
    assert "Usage: python predict.sh DATA_FILE" in Path(script).read_text()


# --------------------------------------------------------------------------- next command


def test_train_says_what_to_type_next(cli, classification_csv, tmp_path):
    result = cli("train", classification_csv, SMALL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "Next: make-mlops-easy predict NEW.csv latest"
    result = cli("train", classification_csv, SMALL, f"deployment.output_dir={tmp_path / 'elsewhere'}")
    [deployment] = deployments(tmp_path / "elsewhere")
    assert result.stdout.strip().splitlines()[-1] == f"Next: make-mlops-easy predict NEW.csv {deployment}"


# --------------------------------------------------------------------------- prune


def sweep(compose, tmp_path: Path, values: list[int]) -> list[Path]:
    """Three diabetes jobs recorded as one sweep, as the app's leaderboard records them; best first."""
    from easy_mlops.sweeps.board import rank, write_summary

    sweep_dir = tmp_path / "outputs" / "multirun" / "2024-01-01" / "12-00-00"
    sweep_dir.mkdir(parents=True)
    rows = []
    for job, trees in enumerate(values):
        info = {"overrides": [f"trainer.model.n_estimators={trees}"], "hydra": {"sweep_dir": str(sweep_dir)}}
        results = run_experiment(
            compose("data=diabetes", f"trainer.model.n_estimators={trees}"), run_info=info
        )
        rows.append(
            {
                "job": job,
                "overrides": info["overrides"][0],
                "status": "ok",
                "metrics": results["training"]["metrics"],
                "optimized_metric": results["training"]["optimized_metric"],
                "deployment_dir": results["deployment"]["deployment_dir"],
            }
        )
    board = rank(rows)
    write_summary(sweep_dir, board)
    return [Path(row["deployment_dir"]) for row in board["rows"]]


def test_prune_keeps_the_newest_and_each_sweeps_best(cli, compose, tmp_path, models_dir):
    ranked = sweep(compose, tmp_path, [2, 4, 8])  # best first
    singles = [Path(run_experiment(compose(SMALL))["deployment"]["deployment_dir"]) for _ in range(2)]
    before = set(deployments(models_dir))
    assert len(before) == 5

    dry = cli("prune", models_dir, "--keep-best", "1", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("would remove") == 2 and "2 deployment(s) to remove" in dry.stdout
    assert set(deployments(models_dir)) == before

    result = cli("prune", models_dir, "--keep-best", "1")
    assert result.returncode == 0, result.stderr
    assert set(deployments(models_dir)) == {ranked[0], *singles}  # singles are no sweep's
    assert sorted(
        line.split(" ", 1)[1] for line in result.stdout.splitlines() if line.startswith("removed")
    ) == sorted(str(p) for p in ranked[1:])

    result = cli("prune", models_dir, "--keep", "1")  # latest, and the sweep's rank 1, stay
    assert result.returncode == 0, result.stderr
    assert set(deployments(models_dir)) == {ranked[0], singles[-1]}
    result = cli("prune", models_dir, "--keep", "0", "--include-protected")
    assert result.returncode == 0 and deployments(models_dir) == []
    assert [p for p in models_dir.iterdir()] == []  # nothing half-removed left behind


def test_prune_needs_to_be_told_what_to_keep(cli, models_dir):
    result = cli("prune", models_dir)
    assert result.returncode == 2 and "--keep" in result.stderr


# --------------------------------------------------------------------------- gc


def test_gc_never_removes_a_folder_the_user_made(cli, compose, models_dir):
    models_dir.mkdir()
    mine = models_dir / "my_notes"
    mine.mkdir()
    old = time.time() - 7200
    os.utime(mine, (old, old))
    run_experiment(compose(SMALL))  # every deployment collects garbage first
    assert mine.is_dir()
    assert cli("gc", models_dir).returncode == 0
    assert mine.is_dir()


def test_the_unknown_step_error_lists_every_step_upload_included(cli, tmp_path, classification_csv):
    (tmp_path / "c.yaml").write_text("deployment:\n  steps: [create_directory, upload_to_mars]\n")
    result = cli("train", classification_csv, "-c", "c.yaml")
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "known steps: create_directory, endpoint_script, mlflow_model, save_metadata, save_model,"
        " save_preprocessor, save_profile, upload"
    )
    assert "c.yaml" in result.stderr and "upload_to_mars" in result.stderr
