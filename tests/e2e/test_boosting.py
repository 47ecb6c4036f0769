"""trainer=xgboost and trainer=lightgbm behave like every other trainer, on CPU (and a GPU when present)."""

import json
import sys

import numpy as np
import pandas as pd
import pytest

from helpers import check_one_deployment_per_job, deployments, make_classification_frame, run_process

pytest.importorskip("xgboost", reason="the dev extras install xgboost and lightgbm")
from easy_mlops.training.boosting import cuda_available  # noqa: E402

PRESETS = ("xgboost", "lightgbm")
HAS_CUDA = cuda_available()
# One thread each: the tests run two at a time on two cores, and LightGBM's threads spin-wait for
# each other, so two processes with all cores each take 100 times longer (55 s for 240 rows).
ONE_THREAD = "trainer.model.n_jobs=1"


def train_and_predict(cli, data, models_dir, *overrides: str) -> tuple[dict, list]:
    result = cli("train", data, f"deployment.output_dir={models_dir}", ONE_THREAD, *overrides)
    assert result.returncode == 0, result.stderr
    [deployment] = deployments(models_dir)
    predicted = cli("predict", data, deployment, "--no-log")
    assert predicted.returncode == 0, predicted.stderr
    replayed = cli("replay", deployment)
    assert replayed.returncode == 0 and "PASS" in replayed.stdout, replayed.stdout + replayed.stderr
    metadata = json.loads((deployment / "metadata.json").read_text())
    return metadata, json.loads(predicted.stdout)["predictions"]


@pytest.mark.parametrize("preset", PRESETS)
def test_classification_with_text_labels(preset, cli, classification_csv, models_dir):
    metadata, predictions = train_and_predict(cli, classification_csv, models_dir, f"trainer={preset}")
    assert set(predictions) == {"yes", "no"}  # the original labels, not 0 and 1
    assert metadata["training"]["estimator"].split(".")[0] in ("easy_mlops", preset)
    assert metadata["training"]["device"] == "cpu"
    assert metadata["metrics"]["accuracy"] > 0.7


@pytest.mark.parametrize("preset", PRESETS)
def test_regression(preset, cli, regression_csv, models_dir):
    metadata, predictions = train_and_predict(cli, regression_csv, models_dir, f"trainer={preset}")
    assert metadata["problem_type"] == "regression" and metadata["metrics"]["r2_score"] > 0.8
    assert all(isinstance(value, float) for value in predictions)


@pytest.mark.parametrize("preset", PRESETS)
def test_labels_that_are_not_0_to_n_and_skops(preset, cli, tmp_path, models_dir):
    frame = make_classification_frame()
    frame["churn"] = np.where(frame["churn"] == "yes", 40, 10)  # numbers, not contiguous
    data = tmp_path / "coded.csv"
    frame.to_csv(data, index=False)
    _, joblib_predictions = train_and_predict(cli, data, models_dir, f"trainer={preset}")
    assert set(joblib_predictions) == {10, 40}
    skops_dir = tmp_path / "skops_models"
    metadata, skops_predictions = train_and_predict(
        cli, data, skops_dir, f"trainer={preset}", "deployment.serialization=skops"
    )
    assert metadata["artifacts"]["model_path"].endswith("model.skops")
    assert skops_predictions == joblib_predictions  # the same model, stored without pickle


@pytest.mark.skipif(HAS_CUDA, reason="this machine has a CUDA GPU: see the test below")
def test_cuda_without_a_gpu_is_one_line_before_reading_the_data(cli, tmp_path):
    result = cli("train", tmp_path / "not_there.csv", "trainer=xgboost", "trainer.model.device=cuda")
    assert result.returncode == 2
    assert result.stderr == (
        "error: config key 'trainer.model.device': device 'cuda' requested but no CUDA device is available\n"
    )


@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA GPU on this machine")
def test_cuda_trains_on_the_gpu_and_the_deployment_predicts_on_the_cpu(cli, classification_csv, models_dir):
    metadata, predictions = train_and_predict(
        cli, classification_csv, models_dir, "trainer=xgboost", "trainer.model.device=cuda"
    )
    assert metadata["training"]["device"] == "cuda"
    assert set(predictions) == {"yes", "no"}


@pytest.mark.parametrize("preset,module", [("xgboost", "xgboost"), ("lightgbm", "lightgbm")])
def test_a_missing_library_names_the_extra(preset, module, classification_csv, tmp_path):
    code = (
        f"import sys\nsys.modules[{module!r}] = None  # as if it were not installed\n"
        "from easy_mlops.cli.main import main\n"
        f"main(['train', {str(classification_csv)!r}, 'trainer={preset}', 'deployment.output_dir=m'])\n"
    )
    result = run_process([sys.executable, "-c", code], tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.endswith("pip install 'make-mlops-easy[boosting]'") and "Traceback" not in result.stderr


def test_only_their_estimator_classes_are_trusted(cli, classification_csv):
    result = cli("train", classification_csv, "trainer=xgboost", "trainer.model._target_=xgboost.train")
    assert result.returncode == 2 and "'xgboost.train' is not in a trusted module" in result.stderr


@pytest.mark.parametrize("preset", PRESETS)
def test_search_presets(preset, hydra_app, classification_csv, tmp_path):
    sweep_dir = tmp_path / "search"
    result = hydra_app(
        "-m",
        f"search={preset}",
        "hydra.sweeper.n_trials=2",
        ONE_THREAD,
        "data=csv",
        f"data.path={classification_csv}",
        f"deployment.output_dir={tmp_path / 'models'}",
        f"hydra.sweep.dir={sweep_dir}",
    )
    assert result.returncode == 0, result.stderr
    rows = check_one_deployment_per_job(tmp_path / "models", sweep_dir, 2)
    assert all(f"trainer.model.{key}=" in rows[0]["overrides"] for key in ("learning_rate", "n_estimators"))
    frame = pd.read_csv(sweep_dir / "sweep_summary.csv")
    assert len(frame) == 2


@pytest.mark.parametrize("preset", PRESETS)
def test_the_mlflow_model_pins_the_library_and_predicts_labels(preset, cli, classification_csv, models_dir):
    mlflow = pytest.importorskip("mlflow")
    _, predictions = train_and_predict(
        cli, classification_csv, models_dir, f"trainer={preset}", "deployment.mlflow_model=true"
    )
    [deployment] = deployments(models_dir)
    requirements = (deployment / "mlflow_model" / "requirements.txt").read_text()
    assert f"{preset}==" in requirements and "make-mlops-easy==" in requirements
    loaded = mlflow.pyfunc.load_model(str(deployment / "mlflow_model"))
    assert list(loaded.predict(pd.read_csv(classification_csv))) == predictions
