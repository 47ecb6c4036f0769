"""Fixtures of both tiers: real data files, composed configs, trained deployments.

Every test writes under its own ``tmp_path``; nothing touches the checkout's
``models/`` or ``outputs/``. ``tests/unit/`` runs in this process only;
``tests/e2e/conftest.py`` adds the commands, processes and servers (and marks
its tests ``slow``). Helpers that are not fixtures are in ``helpers.py``.
"""

import os
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from easy_mlops.config.compose import compose_config
from easy_mlops.pipeline import run_experiment

from helpers import live_table, make_classification_frame, make_regression_frame


@pytest.fixture(autouse=True, scope="session")
def machine_cache(tmp_path_factory):
    """The cache (composed configs, fetched deployments) in the session's directory, not ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EASY_MLOPS_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(autouse=True, scope="session")
def one_thread_per_native_pool():
    """Under pytest-xdist, one OpenMP and BLAS thread per worker: two workers' spinning thread pools on
    two cores made a hist_gradient_boosting fit of a quarter second take fifteen."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(autouse=True)
def step_registries():
    """Steps a test registers are gone after it: each registry is restored as it was."""
    from easy_mlops.deployment import ModelDeployer
    from easy_mlops.observability import ModelMonitor

    saved = {owner: dict(owner.STEP_REGISTRY) for owner in (ModelDeployer, ModelMonitor)}
    yield
    for owner, registry in saved.items():
        owner.STEP_REGISTRY.clear()
        owner.STEP_REGISTRY.update(registry)


@pytest.fixture
def classification_csv(tmp_path) -> Path:
    path = tmp_path / "churn.csv"
    make_classification_frame().to_csv(path, index=False)
    return path


@pytest.fixture
def regression_csv(tmp_path) -> Path:
    path = tmp_path / "prices.csv"
    make_regression_frame().to_csv(path, index=False)
    return path


@pytest.fixture
def models_dir(tmp_path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def compose(models_dir):
    """Compose the experiment config with deployments going to ``tmp_path/models``.

    The default random forest gets 10 trees: enough to show any behaviour here.
    """

    def build(*overrides: str, config_file=None, config=None):
        small = (
            []
            if any(o.startswith(("trainer=", "search=", "trainer.model.n_estimators")) for o in overrides)
            else ["trainer.model.n_estimators=10"]
        )
        return compose_config(
            [f"deployment.output_dir={models_dir}", *small, *overrides], config_file, config
        )

    return build


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """A classification deployment of the default random forest, trained once per module."""
    root = tmp_path_factory.mktemp("predict")
    csv = root / "churn.csv"
    make_classification_frame().to_csv(csv, index=False)
    cfg = compose_config([f"deployment.output_dir={root / 'models'}", "data=csv", f"data.path={csv}"])
    return run_experiment(cfg)["deployment"]["deployment_dir"]


@pytest.fixture
def frame():
    """New rows for ``deployment``: its features, no target."""
    return make_classification_frame(rows=60, seed=7).drop(columns=["churn"])


@pytest.fixture
def many_categories(compose, tmp_path, models_dir):
    """A deployment trained on :func:`helpers.live_table` rows: a 500-category column among others."""
    train = live_table(5000, 0)
    train["y"] = np.where(train.x + np.random.default_rng(1).normal(0, 0.5, 5000) > 0, "yes", "no")
    train.to_csv(tmp_path / "train.csv", index=False)
    cfg = compose("data=csv", f"data.path={tmp_path / 'train.csv'}", "trainer=logistic_regression")
    return models_dir / run_experiment(cfg)["deployment"]["deployment_name"]
