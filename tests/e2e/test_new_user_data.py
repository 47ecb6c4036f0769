"""What a new user hits first with a realistic table of their own.

A churn-like table: thousands of rows, numbers and text, an id column, a few
missing values, and the everyday accidents (a semicolon separator, a stray
Latin-1 byte, one absurd value, ``data.path`` without ``data=csv``).
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import assert_nothing_deployed, assert_one_line_error, deployments


def make_churn_frame(rows: int = 5000, seed: int = 0) -> pd.DataFrame:
    """An id, integers, floats with holes, a 300-valued city, a few text categories and the target."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 72, rows)
    monthly = rng.normal(70, 30, rows).round(2)
    contract = rng.choice(["month-to-month", "one year", "two year"], rows, p=[0.5, 0.3, 0.2])
    signal = -0.04 * tenure + 0.02 * monthly + (contract == "month-to-month") + rng.normal(0, 1, rows)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{100000 + i}" for i in rng.permutation(rows)],
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": (monthly * tenure + rng.normal(0, 50, rows)).round(2),
            "contract": contract,
            "payment": rng.choice(["card", "bank", "check", "electronic"], rows),
            "city": rng.choice([f"city_{i:03d}" for i in range(300)], rows),
            "churn": np.where(signal > np.median(signal), "yes", "no"),
        }
    )
    frame.loc[frame.index[::97], "total_charges"] = np.nan
    frame.loc[frame.index[::113], "payment"] = None
    return frame


@pytest.fixture(scope="module")
def churn_frame() -> pd.DataFrame:
    return make_churn_frame()


# --------------------------------------------------------------------------- not UTF-8


def test_not_utf8_names_the_byte_and_line_in_the_file(cli, churn_frame, tmp_path, models_dir):
    text = churn_frame.to_csv(index=False).encode()
    lines = text.split(b"\n")
    lines[2] = lines[2].replace(b"month-to-month", b"m\xe9nth-to-month").replace(b"year", b"y\xe9ar")
    lines[3000] = lines[3000] + b"\xff"  # far past the first buffer pandas decodes
    data = b"\n".join(lines)
    (tmp_path / "latin.csv").write_bytes(data)
    result = cli("train", tmp_path / "latin.csv", "--target", "churn")
    offset = data.index(b"\xe9")
    assert offset > 100
    message = assert_one_line_error(result, "latin.csv", f"at byte offset {offset} (0xE9), line 3", "UTF-8")
    assert "re-save it as UTF-8" in message and "data.encoding=latin-1" in message
    assert_nothing_deployed(models_dir)


# --------------------------------------------------------------------------- separators


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_separator_is_detected_for_train_and_predict(sep, cli, tmp_path, models_dir):
    frame = make_churn_frame(rows=300).drop(columns=["customer_id"])
    frame["monthly_charges"] = frame["monthly_charges"].map(lambda v: f"{v:.2f}")
    frame.to_csv(tmp_path / "churn.csv", sep=sep, index=False)
    trained = cli("train", tmp_path / "churn.csv", "trainer.model.n_estimators=5", "--target", "churn")
    assert trained.returncode == 0, trained.stderr
    [deployment] = deployments(models_dir)
    schema = json.loads((deployment / "metadata.json").read_text())["input_schema"]
    assert [column["name"] for column in schema] == list(frame.columns[:-1])
    assert {c["name"]: c["kind"] for c in schema}["monthly_charges"] == "numeric"

    frame.head(20).drop(columns=["churn"]).to_csv(tmp_path / "new.csv", sep=sep, index=False)
    predicted = cli("predict", tmp_path / "new.csv", deployment, "--no-log")
    assert predicted.returncode == 0, predicted.stderr
    assert len(json.loads(predicted.stdout)["predictions"]) == 20
    assert predicted.stderr == ""


def test_a_wrong_separator_says_which_one_the_file_uses(cli, tmp_path, models_dir):
    make_churn_frame(rows=60).to_csv(tmp_path / "semi.csv", sep=";", index=False)
    result = cli("train", tmp_path / "semi.csv", "data.sep=','", "--target", "churn")
    assert_one_line_error(result, "semi.csv", "'churn' not found", "separated by ';'", "\"data.sep=';'\"")
    no_target = cli("train", tmp_path / "semi.csv", "data.sep=','")  # the one column is the target
    assert_one_line_error(no_target, "semi.csv", "needs at least one feature column", "data.sep=';'")
    assert_nothing_deployed(models_dir)


def test_data_sep_backslash_t_is_a_tab(cli_process, tmp_path):
    """``data.sep='\\t'`` arrives as backslash-t, which pandas would parse as a regex, slowly and noisily."""
    make_churn_frame(rows=120).drop(columns=["customer_id"]).to_csv(
        tmp_path / "churn.csv", sep="\t", index=False
    )
    result = cli_process(
        "train", tmp_path / "churn.csv", "data.sep='\\t'", "trainer.model.n_estimators=5", "--no-deploy"
    )
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout
    assert "Warning" not in result.stderr, result.stderr


# --------------------------------------------------------------------------- data.path without data=csv


def test_data_path_without_data_csv_says_what_to_add(hydra_app, tmp_path, models_dir):
    make_churn_frame(rows=60).to_csv(tmp_path / "churn.csv", index=False)
    result = hydra_app(f"data.path={tmp_path / 'churn.csv'}", f"deployment.output_dir={models_dir}")
    message = assert_one_line_error(result, "data.path", "data=csv", "'iris'")
    assert "set only one" not in message
    assert_nothing_deployed(models_dir)


# --------------------------------------------------------------------------- huge and infinite numbers


def huge_values_csv(tmp_path: Path, huge: float) -> Path:
    frame = make_churn_frame(rows=600).drop(columns=["customer_id"])
    frame.loc[frame.index[::50], "monthly_charges"] = huge  # in the training split whatever the shuffle
    frame.to_csv(tmp_path / "huge.csv", index=False)
    return tmp_path / "huge.csv"


@pytest.mark.parametrize(
    ("huge", "overrides"),
    [
        pytest.param(1e308, [], id="variance-nan"),
        pytest.param(1e160, [], id="variance-inf-column-all-zeros"),
        pytest.param(1e39, ["preprocessing=tree"], id="beyond-float32-for-trees"),
    ],
)
def test_a_huge_value_is_one_error_naming_its_column(huge, overrides, cli, tmp_path, models_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # numpy's overflow warnings fail the run
        result = cli("train", huge_values_csv(tmp_path, huge), *overrides, "--target", "churn")
    message = assert_one_line_error(result, "huge.csv", "'monthly_charges'", f"max |value| {huge:.3g}")
    assert "total_charges" not in message and "remove or rescale" in message
    assert_nothing_deployed(models_dir)


def test_a_huge_value_shows_no_numpy_warning_in_a_real_run(cli_process, tmp_path, models_dir):
    result = cli_process("train", huge_values_csv(tmp_path, 1e308), "--target", "churn")
    assert_one_line_error(result, "'monthly_charges'")
    assert "RuntimeWarning" not in result.stderr
    assert_nothing_deployed(models_dir)


def test_infinity_is_a_missing_value_said_once_at_train_and_predict(cli, tmp_path, models_dir):
    frame = make_churn_frame(rows=600).drop(columns=["customer_id"])
    frame.loc[frame.index[[3, 300]], "monthly_charges"] = np.inf
    frame.loc[frame.index[7], "total_charges"] = -np.inf
    frame.to_csv(tmp_path / "inf.csv", index=False)
    trained = cli("train", tmp_path / "inf.csv", "trainer.model.n_estimators=5", "--target", "churn")
    assert trained.returncode == 0, trained.stderr
    assert trained.stderr.splitlines() == [
        "warning: column(s) monthly_charges (2), total_charges (1): "
        "infinite values treated as missing (imputed like empty cells)"
    ]
    [deployment] = deployments(models_dir)

    frame.head(10).drop(columns=["churn"]).to_csv(tmp_path / "new.csv", index=False)
    predicted = cli("predict", tmp_path / "new.csv", deployment)
    assert predicted.returncode == 0, predicted.stderr
    assert len(json.loads(predicted.stdout)["predictions"]) == 10
    assert predicted.stderr.splitlines() == [
        "warning: column(s) monthly_charges (1), total_charges (1): "
        "infinite values treated as missing (imputed like empty cells)"
    ]


def test_a_value_that_overflows_when_scaled_at_predict_time_is_named(cli, tmp_path, models_dir):
    frame = make_churn_frame(rows=300).drop(columns=["customer_id"])
    frame["discount"] = np.linspace(0, 1e-3, len(frame))  # scale 3e-4: 1e308 scaled is inf
    frame.to_csv(tmp_path / "churn.csv", index=False)
    assert (
        cli("train", tmp_path / "churn.csv", "trainer.model.n_estimators=5", "--target", "churn").returncode
        == 0
    )
    [deployment] = deployments(models_dir)
    frame.loc[frame.index[4], "discount"] = -1e308
    frame.head(10).drop(columns=["churn"]).to_csv(tmp_path / "new.csv", index=False)
    result = cli("predict", tmp_path / "new.csv", deployment)
    assert_one_line_error(result, "new.csv", "'discount'", "max |value| 1e+308")
    assert result.stdout == ""


# --------------------------------------------------------------------------- identifiers and wide categories


def fitted_preprocessor(deployment: Path):
    from easy_mlops.deployment.loading import load_deployment

    model_data, preprocessor, metadata = load_deployment(deployment)
    return model_data["model"], preprocessor, metadata


def encoded_width(preprocessor, column: str) -> int:
    """How many model inputs a category column became."""
    return sum(name.startswith(f"{column}_") for name in preprocessor.transformer_.get_feature_names_out())


@pytest.fixture(scope="module")
def churn_with_ids(tmp_path_factory) -> Path:
    """5,000 rows with a text id, an integer account number (all distinct) and an integer income (not)."""
    frame = make_churn_frame()
    rng = np.random.default_rng(1)
    frame.insert(1, "account_number", rng.permutation(len(frame)) + 7_000_000)
    frame.insert(2, "income", rng.integers(20_000, 200_000, len(frame)))
    assert frame["income"].nunique() < len(frame)
    path = tmp_path_factory.mktemp("ids") / "churn.csv"
    frame.to_csv(path, index=False)
    return path


def test_identifier_columns_are_left_out_with_one_warning(cli, churn_with_ids, tmp_path, models_dir):
    result = cli("train", churn_with_ids, "trainer.model.n_estimators=5", "--target", "churn")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "warning: leaving out identifier-like column(s) customer_id (5000 distinct values in 5000 rows), "
        "account_number (5000 distinct values in 5000 rows); "
        "keep them with preprocessing.keep_columns=[customer_id,account_number]"
    ]
    [deployment] = deployments(models_dir)
    model, preprocessor, metadata = fitted_preprocessor(deployment)
    assert preprocessor.dropped_columns_ == ["customer_id", "account_number"]
    features = ["income", "tenure_months", "monthly_charges", "total_charges", "contract", "payment", "city"]
    assert preprocessor.feature_columns_ == features
    assert list(preprocessor.feature_names_in_) == ["customer_id", "account_number", *features]  # all given
    assert [column["name"] for column in metadata["input_schema"]] == features
    # 4 numbers, 3 contracts, 4 payments, 50 of the 300 cities (the standard preset's bound).
    assert encoded_width(preprocessor, "city") == 50
    assert model.n_features_in_ == 4 + 3 + 4 + 50
    assert (deployment / "model.joblib").stat().st_size < 2_000_000
    assert (deployment / "preprocessor.joblib").stat().st_size < 50_000

    new = pd.read_csv(churn_with_ids).drop(columns=["churn"]).head(25)
    new.drop(columns=["customer_id", "account_number"]).to_csv(tmp_path / "no_ids.csv", index=False)
    without = cli("predict", tmp_path / "no_ids.csv", deployment, "--no-log")
    assert without.returncode == 0, without.stderr
    new.assign(city="city_not_seen").to_csv(tmp_path / "with_ids.csv", index=False)
    with_ids = cli("predict", tmp_path / "with_ids.csv", deployment, "--no-log")
    assert with_ids.returncode == 0, with_ids.stderr
    assert with_ids.stderr == ""  # the ids are expected, an unseen city is one of the rare ones
    assert len(json.loads(with_ids.stdout)["predictions"]) == 25


def test_keep_columns_keeps_an_identifier(cli, churn_with_ids, tmp_path, models_dir):
    result = cli(
        "train",
        churn_with_ids,
        "trainer.model.n_estimators=5",
        "preprocessing.keep_columns=[customer_id]",
        "preprocessing.categorical.encoder.max_categories=20",
        "--target",
        "churn",
    )
    assert result.returncode == 0, result.stderr
    assert "customer_id" not in result.stderr and "account_number" in result.stderr
    [deployment] = deployments(models_dir)
    _, preprocessor, metadata = fitted_preprocessor(deployment)
    assert preprocessor.dropped_columns_ == ["account_number"]
    assert "customer_id" in [column["name"] for column in metadata["input_schema"]]
    assert encoded_width(preprocessor, "customer_id") == encoded_width(preprocessor, "city") == 20

    pd.read_csv(churn_with_ids).drop(columns=["churn", "customer_id"]).head(5).to_csv(
        tmp_path / "no_id.csv", index=False
    )
    assert_one_line_error(cli("predict", tmp_path / "no_id.csv", deployment), "customer_id")


def test_drop_identifiers_off_and_an_unknown_keep_column(cli, churn_with_ids, models_dir):
    off = cli(
        "train",
        churn_with_ids,
        "trainer.model.n_estimators=5",
        "preprocessing.drop_identifiers=false",
        "--no-deploy",
        "--target",
        "churn",
    )
    assert off.returncode == 0, off.stderr
    assert off.stderr == ""
    typo = cli("train", churn_with_ids, "preprocessing.keep_columns=[customer]", "--target", "churn")
    assert_one_line_error(typo, "preprocessing.keep_columns", "customer")
    assert_nothing_deployed(models_dir)


def test_tree_preset_also_leaves_identifiers_out(cli, churn_with_ids, models_dir):
    result = cli(
        "train", churn_with_ids, "preprocessing=tree", "trainer.model.n_estimators=5", "--target", "churn"
    )
    assert result.returncode == 0, result.stderr
    assert "leaving out identifier-like column(s) customer_id" in result.stderr
    [deployment] = deployments(models_dir)
    model, preprocessor, _ = fitted_preprocessor(deployment)
    assert model.n_features_in_ == 7  # one ordinal code per category column
