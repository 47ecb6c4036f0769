"""The deployments written before DataPreprocessor was a scikit-learn transformer still load and
predict as they did.

The old deployments are made by the code itself as it was: the package and ``conf/`` of the
last commit before the change are taken out of the repository's history and train in their own
process, so the files are what that version wrote, not a stand-in for them.
"""

import io
import json
import logging
import os
import subprocess
import sys
import tarfile
import warnings
from pathlib import Path

import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from easy_mlops import MLOpsPipeline
from easy_mlops.deployment import Deployment

from helpers import CUSTOMER_FEATURES as FEATURES
from helpers import ROOT, customers

# The last commit whose DataPreprocessor was not a scikit-learn estimator: its ``feature_names_in_``
# held the feature columns only and it remembered its target as ``target_column``.
BEFORE_ESTIMATOR = "d0e5d208d07dfa501ba14ce60cc1e25f4dcb8e68"
# How each deployment stores its preprocessor: a joblib pickle, a skops file, or inside model.joblib.
STORAGE = {
    "joblib": [],
    "skops": ["deployment.serialization=skops"],
    "embedded": ["~deployment.steps.save_preprocessor"],
}
SMALL_FOREST = ["trainer.model.n_estimators=5"]


# --------------------------------------------------------------------------- deployments made before

OLD_CODE_TRAINS = """
import json, sys
from pathlib import Path

import pandas as pd

import easy_mlops
from easy_mlops import MLOpsPipeline
from easy_mlops.deployment import Deployment

old, data, storage = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
assert Path(easy_mlops.__file__).is_relative_to(old), easy_mlops.__file__
frame = pd.read_csv(data)
made = {}
for name, overrides in storage.items():
    pipeline = MLOpsPipeline(overrides=[f"deployment.output_dir={old / name}", *overrides])
    directory = pipeline.run(data, target_column="churn")["deployment"]["deployment_dir"]
    deployment = Deployment.load(directory)
    preprocessor = deployment.preprocessor
    made[name] = {
        "directory": directory,
        "predictions": deployment.predict(frame).tolist(),
        "probabilities": deployment.predict_proba(frame).tolist(),
        "attributes": sorted(vars(preprocessor)),
        "feature_names_in_": preprocessor.feature_names_in_,
        "outputs": preprocessor.transformer_.get_feature_names_out().tolist(),
    }
(old / "made.json").write_text(json.dumps(made))
"""


@pytest.fixture(scope="module")
def customers_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "customers.csv"
    customers().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def old_deployments(tmp_path_factory, customers_csv) -> dict:
    """Deployments written by the package as it was at BEFORE_ESTIMATOR, one per way of storing it."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", BEFORE_ESTIMATOR, "src/easy_mlops", "conf"],
        capture_output=True,
    )
    if archive.returncode != 0:  # a copy without the repository's history (an sdist)
        pytest.skip(f"commit {BEFORE_ESTIMATOR[:7]} is not in this checkout: {archive.stderr.decode()}")
    old = tmp_path_factory.mktemp("before_estimator")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(old, filter="data")
    storage = {name: [*overrides, *SMALL_FOREST] for name, overrides in STORAGE.items()}
    result = subprocess.run(
        [sys.executable, "-c", OLD_CODE_TRAINS, str(old), str(customers_csv), json.dumps(storage)],
        cwd=old,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "PYTHONPATH": str(old / "src"),
            "EASY_MLOPS_CACHE": str(old / "cache"),  # its own composed configs
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((old / "made.json").read_text())


@pytest.mark.parametrize("storage", list(STORAGE))
def test_a_deployment_made_before_loads_and_predicts_as_it_did(
    storage, old_deployments, customers_csv, caplog
):
    made = old_deployments[storage]
    # The files are the old layout: the schema in feature_names_in_, the target without a trailing _.
    assert "feature_columns_" not in made["attributes"] and "target_column" in made["attributes"]
    assert made["feature_names_in_"] == FEATURES

    frame = pd.read_csv(customers_csv)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        deployment = Deployment.load(made["directory"])  # checksums verified: the files are untouched
        predictions = deployment.predict(frame).tolist()
        probabilities = deployment.predict_proba(frame).tolist()
    assert [str(w.message) for w in caught] == [] and caplog.records == []
    assert predictions == made["predictions"] and probabilities == made["probabilities"]

    preprocessor = deployment.preprocessor
    check_is_fitted(preprocessor)
    assert preprocessor.feature_columns_ == FEATURES and preprocessor.target_column == "churn"
    assert preprocessor.n_features_in_ == 7  # the 5 features and the 2 columns left out
    assert not hasattr(preprocessor, "feature_names_in_")  # the order they came in was not recorded
    assert list(preprocessor.get_feature_names_out()) == made["outputs"]
    assert preprocessor.get_params()["drop_identifiers"] is True
    assert repr(preprocessor).startswith("DataPreprocessor(")
    assert not hasattr(clone(preprocessor), "transformer_")


@pytest.mark.parametrize("storage", list(STORAGE))
def test_a_deployment_made_now_has_the_same_files_and_predictions(
    storage, old_deployments, customers_csv, tmp_path
):
    made = old_deployments[storage]
    overrides = [f"deployment.output_dir={tmp_path}", *STORAGE[storage], *SMALL_FOREST]
    pipeline = MLOpsPipeline(overrides=overrides)
    directory = Path(pipeline.run(customers_csv, target_column="churn")["deployment"]["deployment_dir"])
    old = Path(made["directory"])
    assert sorted(p.name for p in directory.iterdir()) == sorted(p.name for p in old.iterdir())
    metadata, old_metadata = (json.loads((d / "metadata.json").read_text()) for d in (directory, old))
    assert metadata["input_schema"] == old_metadata["input_schema"]
    assert metadata["training_results"]["metrics"] == old_metadata["training_results"]["metrics"]

    deployment = Deployment.load(directory)
    frame = pd.read_csv(customers_csv)
    assert deployment.predict(frame).tolist() == made["predictions"]
    assert deployment.predict_proba(frame).tolist() == made["probabilities"]
    assert list(deployment.preprocessor.feature_names_in_) == [c for c in frame.columns if c != "churn"]
