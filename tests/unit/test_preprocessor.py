"""DataPreprocessor is a scikit-learn transformer: the estimator contract.

The deployments written before it was one: tests/e2e/test_preprocessor_compat.py.
"""

import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.utils import estimator_checks
from sklearn.utils.validation import check_is_fitted

from easy_mlops import DataPreprocessor
from easy_mlops.errors import DataError

from helpers import CUSTOMER_FEATURES as FEATURES
from helpers import customers

# --------------------------------------------------------------------------- the estimator contract


def test_in_a_pipeline_it_predicts_as_the_trainers_own_path_does():
    frame = customers()
    X, y = frame.drop(columns=["churn"]), frame["churn"]
    pipeline = Pipeline(
        [("prep", DataPreprocessor()), ("model", RandomForestClassifier(n_estimators=5, random_state=0))]
    ).fit(X, y)

    prep = DataPreprocessor()
    features, target = prep.prepare_data(frame, target_column="churn", fit=True)
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(features, target)
    assert pipeline.predict(X).tolist() == model.predict(prep.transform(X)).tolist()

    fitted = pipeline.named_steps["prep"]
    assert list(fitted.feature_names_in_) == list(X.columns) and fitted.n_features_in_ == 7
    assert fitted.feature_columns_ == FEATURES  # what a scoring frame must have: the input schema
    assert fitted.left_out_ == {"notes": "no values", "customer_id": "identifier"}
    names = list(fitted.get_feature_names_out())
    assert names == [
        "tenure_months",
        "monthly_fee",
        "autopay",
        "signup.year",
        "signup.month",
        "signup.day_of_week",
        "signup.days",
        "plan_basic",
        "plan_pro",
        "plan_team",
    ]
    assert list(fitted.get_feature_names_out(list(X.columns))) == names
    with pytest.raises(ValueError, match="feature_names_in_"):
        fitted.get_feature_names_out(FEATURES)
    as_frame = clone(fitted).set_output(transform="pandas").fit(X).transform(X.iloc[5:9])
    assert list(as_frame.columns) == names and list(as_frame.index) == [5, 6, 7, 8]
    # Cross-validation clones the whole pipeline for each fold.
    assert len(cross_val_score(pipeline, X, y, cv=3)) == 3


def test_the_constructor_stores_its_arguments_and_clone_copies_them_unfitted():
    keep, drop = ["customer_id"], ("notes",)
    prep = DataPreprocessor(keep_columns=keep, drop_columns=drop, drop_identifiers=False)
    assert prep.keep_columns is keep and prep.drop_columns is drop  # stored, not converted
    assert prep.get_params() == {
        "categorical": None,
        "drop_columns": ("notes",),
        "drop_identifiers": False,
        "keep_columns": ["customer_id"],
        "numeric": None,
        "trusted_modules": (),
    }
    prep.prepare_data(customers(), target_column="churn", fit=True)
    copy = clone(prep)
    assert copy.get_params() == prep.get_params() and not hasattr(copy, "transformer_")
    assert copy.set_params(drop_identifiers=True).drop_identifiers is True
    for check in (
        estimator_checks.check_no_attributes_set_in_init,
        estimator_checks.check_parameters_default_constructible,
        estimator_checks.check_get_params_invariance,
        estimator_checks.check_set_params,
    ):
        check("DataPreprocessor", DataPreprocessor(keep_columns=["a"], drop_columns=["b"]))


def test_learned_state_is_set_by_fit_and_a_failed_fit_is_not_fitted():
    prep = DataPreprocessor()
    assert not [name for name in vars(prep) if name.endswith("_")]
    with pytest.raises(NotFittedError):
        check_is_fitted(prep)
    with pytest.raises(DataError, match=r"^the preprocessor is not fitted; call prepare_data\(\.\.\."):
        prep.transform(customers())
    with pytest.raises(NotFittedError):  # the same error, as scikit-learn's tools expect it
        prep.get_feature_names_out()

    only_ids = customers()[["customer_id", "notes"]]
    with pytest.raises(DataError, match="no feature column left"):
        prep.fit(only_ids)
    with pytest.raises(NotFittedError):
        check_is_fitted(prep)

    assert prep.fit(customers().drop(columns=["churn"])) is prep
    check_is_fitted(prep)
    assert prep.target_column is None  # fit is given features only
    prep.prepare_data(customers(), target_column="churn", fit=True)
    assert prep.target_column == prep.target_column_ == "churn"
    prep.target_column = "label"  # a plain attribute in the guide's preprocessor
    assert prep.target_column_ == "label"
    with pytest.raises(DataError, match="pandas DataFrame"):
        prep.transform(customers().to_numpy())
