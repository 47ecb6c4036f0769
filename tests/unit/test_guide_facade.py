"""The guide's names live in facades over the core; each core class keeps one name per idea.

The core classes' public names are listed here: a guide name that reappears on
one (``load_logs``, ``prepare_data``...), or any new public name, fails until
this list says it belongs to the core. The guide's classes add exactly the
guide's names, and are what the guide's imports give.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

import easy_mlops
import easy_mlops.pipeline
from easy_mlops import deployment, observability, preprocessing
from easy_mlops.deployment import Deployer, Deployment, DeploymentStep, ModelDeployer
from easy_mlops.deployment import steps as deployment_steps
from easy_mlops.guide import MLOpsPipeline
from easy_mlops.observability import ModelMonitor, Monitor, ObservabilityStep
from easy_mlops.observability import steps as observability_steps
from easy_mlops.pipeline import run_experiment
from easy_mlops.preprocessing import DataPreprocessor, Preprocessor

from helpers import make_classification_frame

# What each core class is, by the names the project's own code calls.
CORE = {
    Monitor: {
        "active_alerts",
        "config",
        "defer_writes",
        "flush",
        "from_snapshot",
        "generate_html_report",
        "load",
        "log_metrics",
        "log_predictions",
        "metrics_history",
        "summary",
    },
    Deployer: {"deploy"},
    # Beyond scikit-learn's own (get_params, set_output, fit_transform...).
    Preprocessor: {
        "align",
        "column_kinds",
        "fit",
        "from_config",
        "get_feature_names_out",
        "identifiers",
        "input_schema",
        "transform",
    },
}
# What the guide's class adds over its core class: the original package's names (and the one
# helper the guide's load_deployed_model needs, ``from_fitted``).
GUIDE = {
    ModelMonitor: (
        Monitor,
        {
            "STEP_REGISTRY",
            "check_metric_threshold",
            "generate_report",
            "get_alerts_summary",
            "get_drift_summary",
            "get_metrics_summary",
            "get_predictions_summary",
            "get_step",
            "load_logs",
            "log_prediction",
            "predictions_log",
            "register_step",
            "save_logs",
        },
    ),
    ModelDeployer: (
        Deployer,
        {
            "STEP_REGISTRY",
            "create_model_metadata",
            "load_deployed_model",
            "register_step",
            "save_deployment_artifacts",
        },
    ),
    DataPreprocessor: (Preprocessor, {"from_fitted", "load_data", "prepare_data", "target_column"}),
}
GUIDE_NAMES = set().union(*(names for _, names in GUIDE.values())) | {"as_tuple"}


def public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def sklearn_names() -> set[str]:
    return public(BaseEstimator) | public(TransformerMixin)


@pytest.mark.parametrize("core", list(CORE), ids=lambda cls: cls.__name__)
def test_a_core_class_has_its_own_names_only(core):
    names = public(core) - (sklearn_names() if issubclass(core, BaseEstimator) else set())
    assert names == CORE[core]


@pytest.mark.parametrize("core", [*CORE, Deployment], ids=lambda cls: cls.__name__)
def test_no_guide_name_is_on_a_core_class(core):
    assert public(core) & GUIDE_NAMES == set()


@pytest.mark.parametrize("guide", list(GUIDE), ids=lambda cls: cls.__name__)
def test_a_guide_class_is_its_core_class_plus_the_guides_names(guide):
    core, names = GUIDE[guide]
    assert issubclass(guide, core)
    assert public(guide) - public(core) == names
    assert guide.__init__ is core.__init__  # same arguments: scikit-learn's get_params and clone agree


def test_the_guides_imports_give_the_guides_classes():
    assert (easy_mlops.ModelDeployer, deployment.ModelDeployer) == (ModelDeployer, ModelDeployer)
    assert (easy_mlops.ModelMonitor, observability.ModelMonitor) == (ModelMonitor, ModelMonitor)
    assert (easy_mlops.DataPreprocessor, preprocessing.DataPreprocessor) == (DataPreprocessor,) * 2
    assert easy_mlops.MLOpsPipeline is MLOpsPipeline
    assert (easy_mlops.DeploymentStep, easy_mlops.ObservabilityStep) == (DeploymentStep, ObservabilityStep)
    # The path deployments pickled their preprocessor by, before the core class had its own module.
    from easy_mlops.preprocessing.preprocessor import DataPreprocessor as pickled_by

    assert pickled_by is DataPreprocessor
    assert "MLOpsPipeline" not in vars(easy_mlops.pipeline)  # the application module is the core's


class EchoStep(DeploymentStep):
    name = "echo"

    def run(self, context):
        context.artifacts["echo"] = True


class QuietStep(ObservabilityStep):
    name = "quiet"


@pytest.mark.parametrize(
    "guide, core, step, registry, config",
    [
        (ModelDeployer, Deployer, EchoStep, deployment_steps.STEP_REGISTRY, {"steps": ["echo"]}),
        (ModelMonitor, Monitor, QuietStep, observability_steps.STEP_REGISTRY, {"steps": ["quiet"]}),
    ],
    ids=["deployer", "monitor"],
)
def test_a_registry_copied_and_assigned_back_is_still_the_one_every_stage_reads(
    guide, core, step, registry, config
):
    """The guide's scripts copy ``STEP_REGISTRY`` and assign it back to restore it: what they
    register afterwards must reach the pipeline's own (core) deployer and monitor too."""
    original = guide.STEP_REGISTRY.copy()
    guide.STEP_REGISTRY = original
    assert guide.STEP_REGISTRY is registry and guide().STEP_REGISTRY is registry
    guide.register_step(step)
    assert step in [type(built) for built in core(config).steps]
    guide.STEP_REGISTRY = original
    assert step.name not in registry
    with pytest.raises(ValueError, match=step.name):
        core(config)


def test_the_guides_loader_gives_a_data_preprocessor_of_a_deployment_the_core_made(compose, tmp_path):
    """The pipeline deploys the core Preprocessor; the guide's load_deployed_model hands it back as
    the DataPreprocessor scripts know, remembering the target, with the same fitted state."""
    frame = make_classification_frame()
    frame.to_csv(tmp_path / "train.csv", index=False)
    results = run_experiment(compose("data=csv", f"data.path={tmp_path / 'train.csv'}"))
    directory = results["deployment"]["deployment_dir"]
    core = Deployment.load(directory).preprocessor
    assert type(core) is Preprocessor and not hasattr(core, "target_column_")

    model_data, guide, metadata = ModelDeployer().load_deployed_model(directory)
    assert type(guide) is DataPreprocessor and repr(guide).startswith("DataPreprocessor(")
    assert guide.target_column == metadata["target_column"] == "churn"
    features, target = guide.prepare_data(frame, target_column="churn")
    assert np.array_equal(features, core.transform(frame.drop(columns=["churn"])))
    assert list(target) == list(frame["churn"])
    assert isinstance(guide.load_data(tmp_path / "train.csv"), pd.DataFrame)
    predictions = model_data["model"].predict(features).tolist()
    assert predictions == Deployment.load(directory).predict(frame).tolist()
