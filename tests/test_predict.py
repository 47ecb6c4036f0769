"""Prediction-time schema handling: the fitted preprocessor reused unchanged."""

import json
import logging

import numpy as np
import pytest

from easy_mlops.errors import DataError
from easy_mlops.inference import predict_frame
from easy_mlops.pipeline import run_experiment


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    from easy_mlops.config.compose import compose_config

    from conftest import make_classification_frame

    root = tmp_path_factory.mktemp("predict")
    csv = root / "churn.csv"
    make_classification_frame().to_csv(csv, index=False)
    cfg = compose_config([f"deployment.output_dir={root / 'models'}", "data=csv", f"data.path={csv}"])
    return run_experiment(cfg)["deployment"]["deployment_dir"]


@pytest.fixture
def frame():
    from conftest import make_classification_frame

    return make_classification_frame(rows=60, seed=7).drop(columns=["churn"])


def predict(frame, deployment):
    return predict_frame(frame, deployment, log_predictions=False).tolist()


def test_cli_round_trip_equals_the_in_process_model(cli, deployment, frame, tmp_path):
    frame.to_csv(tmp_path / "new.csv", index=False)
    result = cli("predict", tmp_path / "new.csv", deployment, "-o", tmp_path / "out.json")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == json.loads((tmp_path / "out.json").read_text())
    assert printed["predictions"] == predict(frame, deployment)


def test_column_order_does_not_matter(deployment, frame):
    assert predict(frame[frame.columns[::-1]], deployment) == predict(frame, deployment)


def test_extra_columns_are_dropped_with_a_warning(deployment, frame, caplog):
    with caplog.at_level(logging.WARNING):
        result = predict(frame.assign(extra=1, notes="x"), deployment)
    assert result == predict(frame, deployment)
    assert "extra, notes" in caplog.text


def test_a_missing_column_is_named(deployment, frame):
    with pytest.raises(DataError, match="missing feature column\\(s\\): city"):
        predict(frame.drop(columns=["city"]), deployment)


def test_unseen_categories_and_missing_values_do_not_drop_rows(deployment, frame):
    frame = frame.copy()
    frame.loc[0, "city"] = "tokyo"
    frame.loc[1, "x1"] = np.nan
    frame.loc[2, "city"] = None
    assert len(predict(frame, deployment)) == len(frame)


def test_numbers_as_strings_and_ints_as_floats(deployment, frame):
    drifted = frame.assign(x1=frame["x1"].astype(str), count=frame["count"].astype(float))
    assert predict(drifted, deployment) == predict(frame, deployment)


def test_non_numeric_text_in_a_numeric_column_is_named(deployment, frame):
    with pytest.raises(DataError, match="column 'x1' must be numeric, found 'abc' in row 4"):
        predict(frame.assign(x1=frame["x1"].astype(object).where(frame.index != 3, "abc")), deployment)


def test_pandas_string_dtype_and_copy_on_write(deployment, frame):
    as_strings = frame.assign(city=frame["city"].astype("string"))
    assert predict(as_strings, deployment) == predict(frame, deployment)


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".parquet"])
def test_json_and_parquet_inputs(cli, deployment, frame, tmp_path, suffix):
    path = tmp_path / f"new{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=suffix == ".jsonl")
    from easy_mlops.inference import predict_file

    assert predict_file(path, deployment, log_predictions=False) == predict(frame, deployment)


def test_training_from_json_and_parquet(compose, tmp_path):
    from conftest import make_regression_frame

    frame = make_regression_frame()
    frame.to_parquet(tmp_path / "prices.parquet")
    frame.to_json(tmp_path / "prices.json", orient="records")
    for name in ("prices.parquet", "prices.json"):
        results = run_experiment(compose("data=csv", f"data.path={tmp_path / name}", "deploy=false"))
        assert results["training"]["target_column"] == "price"
        assert results["training"]["problem_type"] == "regression"
