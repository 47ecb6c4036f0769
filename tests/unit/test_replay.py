"""Replay: a deployment trained again from its own record predicts identically, for every trainer."""

import pytest

from easy_mlops.replay import replay


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
