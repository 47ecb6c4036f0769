"""Prediction-time schema handling: the fitted preprocessor reused unchanged.

``make-mlops-easy predict`` itself: tests/e2e/test_predict_command.py.
"""

import json
import logging

import numpy as np
import pytest

from easy_mlops.errors import DataError
from easy_mlops.pipeline import run_experiment

from helpers import predict


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


def test_categories_of_any_dtype_become_text_with_nan_for_missing():
    import pandas as pd

    from easy_mlops.preprocessing.transformer import as_text

    text_column = pd.Series(["a", None, "b"], dtype="str")
    assert as_text(text_column) is text_column  # read directly by scikit-learn: no copy
    for values, expected in [
        (pd.Series(["a", None, "b"], dtype="string"), ["a", "nan", "b"]),
        (pd.Series(["a", None, "b"], dtype=object), ["a", "nan", "b"]),
        (pd.Series([75001, 69001, None]), ["75001.0", "69001.0", "nan"]),
        (pd.Series([1, 2, 3]), ["1", "2", "3"]),
        (pd.Series([True, False]), ["True", "False"]),
        (pd.Series(["x", None], dtype="category"), ["x", "nan"]),
    ]:
        text = as_text(values)
        assert text.dtype == object, values.dtype
        assert [v if isinstance(v, str) else "nan" for v in text] == expected
        assert all(isinstance(v, str) or (isinstance(v, float) and np.isnan(v)) for v in text)


def test_columns_named_like_python_parameters_are_coerced():
    import pandas as pd

    from easy_mlops.preprocessing.preprocessor import DataPreprocessor

    encoder = {"_target_": "sklearn.preprocessing.OneHotEncoder", "sparse_output": False}
    preprocessor = DataPreprocessor(categorical={"encoder": encoder})
    train = pd.DataFrame({"self": ["a", "b", "a"], "class": [1, 2, 3], "values": [0.5, 1.5, 2.5]})
    fitted, _ = preprocessor.prepare_data(train, fit=True)
    drifted = train.copy()
    drifted["self"] = train["self"].astype("category")
    scored = preprocessor.transform(drifted)
    assert fitted.tolist() == scored.tolist() == [[1, 0.5, 1, 0], [2, 1.5, 0, 1], [3, 2.5, 1, 0]]


def test_prediction_values_are_json_scalars_or_text():
    from easy_mlops.jsonsafe import json_values

    assert json_values(np.array([1.5, np.nan, -np.inf])) == [1.5, "nan", "-inf"]
    assert json_values(np.array([3, 1], dtype=np.int64)) == [3, 1]
    assert type(json_values(np.array([3], dtype=np.int32))[0]) is int
    assert json_values(np.array([True, False])) == [True, False]
    assert json_values(np.array(["yes", "no"])) == ["yes", "no"]
    assert json_values(np.array(["yes", None], dtype=object)) == ["yes", None]
    assert json_values(np.array([[1, 2], [3, 4]])) == ["[1, 2]", "[3, 4]"]
    assert json_values([np.float32(0.5), np.int64(2)]) == [0.5, 2]


def test_the_index_summarises_only_finite_numbers():
    from easy_mlops.jsonsafe import json_values, numeric_values

    for predictions, expected in [
        (np.array([3, 1, 2]), [3.0, 1.0, 2.0]),
        (np.array([1.5, np.nan, np.inf, -2.0]), [1.5, -2.0]),
        (np.array([True, False]), []),
        (np.array(["yes", "no"]), []),
        (np.array([1, "a", 2.5, None, True], dtype=object), [1.0, 2.5]),
    ]:
        assert numeric_values(predictions, json_values(predictions)).tolist() == expected


def test_training_from_json_and_parquet(compose, tmp_path):
    from helpers import make_regression_frame

    frame = make_regression_frame()
    frame.to_parquet(tmp_path / "prices.parquet")
    frame.to_json(tmp_path / "prices.json", orient="records")
    for name in ("prices.parquet", "prices.json"):
        results = run_experiment(compose("data=csv", f"data.path={tmp_path / name}", "deploy=false"))
        assert results["training"]["target_column"] == "price"
        assert results["training"]["problem_type"] == "regression"


def test_text_predictions_are_written_as_valid_json_lines():
    """Class labels are encoded once per distinct text: quotes, commas and accents survive."""
    from easy_mlops.observability.prediction_index import PredictionBatch

    labels = np.array(['a, "b"', "é", 'a, "b"', "no"], dtype=object)
    batch = PredictionBatch(labels, "1.0.0")
    records = [json.loads(line) for chunk in batch.chunks() for line in chunk.splitlines()]
    assert [record["prediction"] for record in records] == labels.tolist()
    assert [record["row"] for record in records] == [0, 1, 2, 3]


def test_labels_are_read_off_the_probabilities_only_where_predict_does_just_that():
    """Forests predict the most probable class in scikit-learn's own code: their labels come from
    the probabilities (one pass over the trees); any other classifier's from its own predict."""
    from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    from easy_mlops.deployment.loading import predicts_most_probable

    class Cautious(RandomForestClassifier):
        def predict(self, X):
            return np.where(self.predict_proba(X)[:, 1] > 0.9, self.classes_[1], self.classes_[0])

    rng = np.random.default_rng(0)
    X, X_new = rng.normal(size=(300, 4)), rng.normal(size=(500, 4))
    y = np.where(X[:, 0] + rng.normal(scale=0.8, size=300) > 0, "yes", "no")
    for estimator, reads_off in [
        (RandomForestClassifier(n_estimators=7, random_state=0), True),
        (ExtraTreesClassifier(n_estimators=7, random_state=0), True),
        (Cautious(n_estimators=7, random_state=0), False),
        (HistGradientBoostingClassifier(max_iter=5), False),
        (LogisticRegression(), False),
    ]:
        estimator.fit(X, y)
        assert predicts_most_probable(estimator) is reads_off, type(estimator).__name__
        if reads_off:
            most_probable = estimator.classes_.take(estimator.predict_proba(X_new).argmax(axis=1))
            assert most_probable.tolist() == estimator.predict(X_new).tolist()
