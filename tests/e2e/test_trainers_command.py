"""Trainer settings refused at the command line: ``trainer.cv_folds``."""

from easy_mlops.pipeline import run_experiment


def test_cv_folds_zero_is_off_and_one_is_refused(compose, cli, classification_csv):
    results = run_experiment(compose("data=iris", "deploy=false", "trainer.cv_folds=0"))
    assert not any(name.startswith("cv_") for name in results["training"]["metrics"])
    refused = cli("train", classification_csv, "trainer.cv_folds=1", "--no-deploy")
    assert refused.returncode == 2
    assert (
        refused.stderr.strip()
        == "error: config key 'trainer.cv_folds': 1 must be at least 2 (0 or null: off)"
    )
