"""Every trainer preset on classification and regression data, in process."""

import json
import pickle

import pytest

from easy_mlops.errors import ConfigError
from easy_mlops.pipeline import run_experiment

from helpers import deployments

CLASSIFIERS = ["random_forest", "logistic_regression", "hist_gradient_boosting", "mlp"]
REGRESSORS = ["random_forest", "linear_regression", "hist_gradient_boosting", "mlp"]


@pytest.mark.parametrize("trainer", CLASSIFIERS)
def test_classification_presets(trainer, compose, classification_csv, models_dir):
    cfg = compose(f"trainer={trainer}", "data=csv", f"data.path={classification_csv}")
    results = run_experiment(cfg)
    metrics = results["training"]["metrics"]
    assert set(metrics) == {"accuracy", "f1_score", "precision", "recall"}
    assert metrics["accuracy"] > 0.7  # the target is learnable from x1, x2 and city
    [deployment] = deployments(models_dir)
    estimator = json.loads((deployment / "metadata.json").read_text())["training"]["estimator"]
    assert estimator.endswith("Classifier") or estimator.endswith("LogisticRegression")


@pytest.mark.parametrize("trainer", REGRESSORS)
def test_regression_presets(trainer, compose, regression_csv):
    cfg = compose(f"trainer={trainer}", "data=csv", f"data.path={regression_csv}", "deploy=false")
    results = run_experiment(cfg)
    metrics = results["training"]["metrics"]
    assert set(metrics) == {"mse", "rmse", "mae", "r2_score"}
    assert metrics["rmse"] == pytest.approx(metrics["mse"] ** 0.5)
    assert metrics["r2_score"] > 0.6
    assert results["deployment"] == {}


def test_hyperparameters_reach_the_estimator(compose, models_dir):
    import joblib

    run_experiment(compose("trainer.model.n_estimators=7", "trainer.model.max_depth=3"))
    [deployment] = deployments(models_dir)
    model = joblib.load(deployment / "model.joblib")["model"]
    assert (model.n_estimators, model.max_depth, model.random_state) == (7, 3, 42)


def test_the_estimator_is_built_as_hydra_builds_it_with_plain_values(compose):
    """A plain ``_target_`` node is built by importing its class, not through Hydra: the same
    parameters as Hydra's ``instantiate`` gives, lists as lists, so the pickled model needs no OmegaConf."""
    from hydra.utils import instantiate

    from easy_mlops.config.experiment import build_experiment
    from easy_mlops.training.trainer import build_estimator

    cfg = compose(
        "trainer=mlp", "trainer.model.hidden_layer_sizes=[8,4]", "trainer.problem_type=classification"
    )
    built = build_estimator(build_experiment(cfg).config.trainer, "classification")
    by_hydra = instantiate(cfg.trainer.model, _convert_="all")
    assert type(built) is type(by_hydra) and built.get_params() == by_hydra.get_params()
    assert type(built.hidden_layer_sizes) is list and b"omegaconf" not in pickle.dumps(built)


def test_random_state_makes_runs_identical(compose):
    first = run_experiment(compose("data=wine", "deploy=false", "trainer.random_state=3"))
    second = run_experiment(compose("data=wine", "deploy=false", "trainer.random_state=3"))
    assert first["training"]["metrics"] == second["training"]["metrics"]


def test_cross_validation_runs_on_training_rows_only(compose):
    results = run_experiment(compose("data=iris", "deploy=false", "trainer.cv_folds=3"))
    training = results["training"]
    assert {"cv_accuracy_mean", "cv_accuracy_std"} <= set(training["metrics"])
    assert training["train_rows"] == 120 and training["test_rows"] == 30


def test_cross_validation_is_off_by_default(compose):
    metrics = run_experiment(compose("deploy=false"))["training"]["metrics"]
    assert not any(name.startswith("cv_") for name in metrics)


def test_problem_type_detection(compose, regression_csv):
    results = run_experiment(compose("data=diabetes", "deploy=false", "trainer.model.n_estimators=10"))
    assert results["training"]["problem_type"] == "regression"
    results = run_experiment(compose("data=breast_cancer", "deploy=false", "trainer.model.n_estimators=10"))
    assert results["training"]["problem_type"] == "classification"


def test_classification_only_preset_on_regression_data_is_a_clear_error(compose):
    with pytest.raises(ConfigError, match="no estimator for regression"):
        run_experiment(compose("data=diabetes", "trainer=logistic_regression"))


def test_hold_out_split_is_stratified():
    import pandas as pd

    from easy_mlops.training.trainer import split

    # 90 of one class, 10 of the other: an unstratified 20 % hold-out would vary around 2 "b".
    frame = pd.DataFrame({"x": range(100), "y": ["a"] * 90 + ["b"] * 10})
    for seed in range(5):
        train_rows, hold_out = split(frame, "y", "classification", 0.2, seed)
        assert hold_out["y"].value_counts().to_dict() == {"a": 18, "b": 2}
        assert train_rows["y"].value_counts().to_dict() == {"a": 72, "b": 8}
    _, hold_out = split(frame.assign(y=range(100)), "y", "regression", 0.2, 0)
    assert len(hold_out) == 20  # regression targets are not stratified (they cannot be)


def test_one_instantiate_path_builds_nested_targets_and_checks_them_first():
    """Estimators, transformers, trackers and steps all go through config.instantiate.instantiate: a
    nested ``_target_`` (a bagged tree) is built, and one outside the allowlist is refused before any
    import, at any depth, in an estimator as in a step."""
    from easy_mlops.config.instantiate import instantiate, instantiate_steps
    from easy_mlops.observability import ModelMonitor, ObservabilityStep

    bagged = {
        "_target_": "sklearn.ensemble.BaggingClassifier",
        "estimator": {"_target_": "sklearn.tree.DecisionTreeClassifier", "max_depth": 2},
        "n_estimators": 3,
    }
    built = instantiate(bagged, "trainer.model")
    assert type(built.estimator).__name__ == "DecisionTreeClassifier" and built.estimator.max_depth == 2
    evil = {**bagged, "estimator": {"_target_": "os.system", "command": "touch pwned"}}
    with pytest.raises(ConfigError, match=r"trainer\.model\.estimator\._target_': 'os\.system' is not"):
        instantiate(evil, "trainer.model")

    class Holding(ObservabilityStep):  # defined in a function: built from the registry, never imported
        name = "holding"

        def __init__(self, model=None, enabled: bool = True) -> None:
            super().__init__(enabled)
            self.model = model

    ModelMonitor.register_step(Holding)
    [(name, step)] = instantiate_steps(
        {"holding": {"model": bagged}}, "observability.steps", ModelMonitor.STEP_REGISTRY, ObservabilityStep
    )
    assert name == "holding" and type(step.model).__name__ == "BaggingClassifier"
    with pytest.raises(ConfigError, match="os.system"):
        instantiate_steps(
            {"holding": {"model": evil}}, "observability.steps", ModelMonitor.STEP_REGISTRY, ObservabilityStep
        )
