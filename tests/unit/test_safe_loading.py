"""Safe loading: skops artifacts and their trusted types, trusted modules, schema drift at predict."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from easy_mlops.deployment.loading import load_deployment
from easy_mlops.errors import DataError, DeploymentError
from easy_mlops.files import file_fingerprint
from easy_mlops.pipeline import run_experiment

from helpers import make_classification_frame


def test_skops_artifacts_predict_like_joblib_ones(compose, classification_csv):
    from easy_mlops.inference import predict_file

    joblib_dir = run_experiment(compose("data=csv", f"data.path={classification_csv}"))["deployment"][
        "deployment_dir"
    ]
    skops_dir = run_experiment(
        compose("data=csv", f"data.path={classification_csv}", "deployment.serialization=skops")
    )["deployment"]["deployment_dir"]
    assert sorted(p.name for p in Path(skops_dir).glob("*.skops")) == ["model.skops", "preprocessor.skops"]
    assert not list(Path(skops_dir).glob("*.joblib"))
    assert predict_file(classification_csv, skops_dir) == predict_file(classification_csv, joblib_dir)


def test_skops_refuses_untrusted_types_even_with_matching_checksums(compose, classification_csv):
    import fractions

    import skops.io

    deployment = Path(
        run_experiment(compose("deployment.serialization=skops"))["deployment"]["deployment_dir"]
    )
    hostile = deployment / "model.skops"
    skops.io.dump({"model": fractions.Fraction(1, 3)}, hostile)
    metadata = json.loads((deployment / "metadata.json").read_text())
    metadata["files"]["model.skops"] = file_fingerprint(hostile)  # the attacker rewrote the metadata too
    (deployment / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(DeploymentError, match="refusing to load untrusted type\\(s\\) fractions.Fraction"):
        load_deployment(deployment)


def test_trusted_modules_opt_in(compose):
    from easy_mlops.errors import ConfigError

    with pytest.raises(ConfigError, match="'collections.OrderedDict' is not in a trusted module"):
        run_experiment(compose("+deployment.steps.odd._target_=collections.OrderedDict"))
    # Trusted, it is instantiated, and then refused for not being a step.
    with pytest.raises(ConfigError, match="OrderedDict is not a DeploymentStep"):
        run_experiment(
            compose("+deployment.steps.odd._target_=collections.OrderedDict", "trusted_modules=[collections]")
        )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A deployment trained on the classification frame, and that frame's features."""
    from easy_mlops.config.compose import compose_config

    root = tmp_path_factory.mktemp("schema")
    frame = make_classification_frame(rows=200, seed=3)
    csv = root / "train.csv"
    frame.to_csv(csv, index=False)
    cfg = compose_config([f"deployment.output_dir={root / 'models'}", "data=csv", f"data.path={csv}"])
    deployment = run_experiment(cfg)["deployment"]["deployment_dir"]
    model_data, preprocessor, _ = load_deployment(deployment)
    features = pd.read_csv(csv).drop(columns=["churn"]).head(25)
    reference = model_data["model"].predict(preprocessor.transform(features))
    return model_data["model"], preprocessor, features, reference


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    order=st.permutations(["x1", "x2", "count", "city"]),
    extra=st.lists(st.sampled_from(["note", "id", "churn_guess"]), unique=True, max_size=2),
    drift=st.sets(st.sampled_from(["ints_as_floats", "numbers_as_strings", "string_dtype", "object_dtype"])),
    unseen=st.booleans(),
    drop=st.sampled_from([None, "x1", "city"]),
)
def test_prediction_schema_handling(trained, order, extra, drift, unseen, drop):
    """Reordered, extra, drifted or missing columns: identical predictions or one clear DataError."""
    model, preprocessor, features, reference = trained
    frame = features[list(order)].copy()
    for column in extra:
        frame[column] = "x"
    if "ints_as_floats" in drift:
        frame["count"] = frame["count"].astype(float)
    if "numbers_as_strings" in drift:
        frame["x1"] = frame["x1"].map(repr)
    if "string_dtype" in drift:
        frame["city"] = frame["city"].astype("string")
    if "object_dtype" in drift:
        frame["x2"] = frame["x2"].astype(object)
    if unseen:
        frame.loc[frame.index[0], "city"] = "atlantis"
    if drop:
        frame = frame.drop(columns=[drop])
    try:
        predictions = model.predict(preprocessor.transform(frame))
    except DataError as exc:
        assert drop is not None and drop in str(exc)
        return
    assert drop is None
    assert len(predictions) == len(frame)
    if not unseen:
        assert np.array_equal(predictions, reference)
    else:
        assert np.array_equal(predictions[1:], reference[1:])
