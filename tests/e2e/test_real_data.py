"""Users' own files, round two: flags with gaps, decimal commas, dates, tiny regressions, odd columns.

Each table is written the way a spreadsheet or another program writes it,
then trained on and predicted with through the real command line.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from easy_mlops.deployment.loading import Deployment

from helpers import assert_nothing_deployed, assert_one_line_error, deployments


def predictions(result) -> list:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["predictions"]


def only_deployment(models_dir: Path) -> Deployment:
    [directory] = deployments(models_dir)
    return Deployment.load(directory)


# --------------------------------------------------------------------------- flags


def flag_table(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    """``x``, a ``flag`` that is True or empty, a yes/no ``member`` with gaps, and the class ``y``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    flag = rng.random(rows) < 0.5
    member = rng.choice(["yes", "no", "Yes", " NO", ""], rows)
    y = np.where(x + 2 * flag > 1, "a", "b")
    return pd.DataFrame({"x": x, "flag": np.where(flag, "True", ""), "member": member, "y": y})


def test_flags_with_gaps_and_yes_no_words_train_and_predict(cli, tmp_path, models_dir):
    flag_table().to_csv(tmp_path / "flags.csv", index=False)
    assert pd.read_csv(tmp_path / "flags.csv")["flag"].dtype == object  # True and NaN: pandas' objects
    result = cli("train", tmp_path / "flags.csv", "trainer.model.n_estimators=20")
    assert result.returncode == 0, result.stderr
    assert "read flag, member as true/false flags (1/0)" in result.stdout
    # A checkbox exported as True or nothing: its empty cells are False. member's gaps are imputed.
    assert "read empty cells of flag as false (it holds no other value)" in result.stdout
    deployment = only_deployment(models_dir)
    kinds = {column["name"]: column["kind"] for column in deployment.input_schema}
    assert kinds == {"x": "numeric", "flag": "boolean", "member": "boolean"}
    assert deployment.metadata["training_results"]["metrics"]["accuracy"] > 0.9  # the flag is learnt
    # One model input per flag (1/0, gaps imputed), not a one-hot per spelling.
    assert deployment.model.n_features_in_ == 3

    new = pd.DataFrame({"x": [2.0, 2.0, -2.0], "flag": ["true", None, "FALSE"], "member": ["y", "n", None]})
    new.to_json(tmp_path / "new.json", orient="records")
    assert predictions(cli("predict", tmp_path / "new.json", "latest")) == ["a", "a", "b"]
    pd.DataFrame({"x": [1.0], "flag": ["maybe"], "member": ["yes"]}).to_csv(tmp_path / "bad.csv", index=False)
    assert_one_line_error(
        cli("predict", tmp_path / "bad.csv", "latest"), "bad.csv", "'flag'", "true/false or yes/no", "'maybe'"
    )


def test_json_booleans_with_nulls(cli, tmp_path, models_dir):
    table = flag_table(seed=1)
    table["flag"] = [True if value else None for value in table["flag"]]
    table.drop(columns=["member"]).to_json(tmp_path / "flags.jsonl", orient="records", lines=True)
    result = cli("train", tmp_path / "flags.jsonl", "trainer.model.n_estimators=20")
    assert result.returncode == 0, result.stderr
    assert only_deployment(models_dir).input_schema[1] == {"name": "flag", "kind": "boolean"}


# --------------------------------------------------------------------------- decimal commas


@pytest.fixture(scope="module")
def cancer_files(tmp_path_factory) -> Path:
    """breast_cancer as a spreadsheet in Europe exports it (``;``, ``12,5``) and as a plain CSV."""
    folder = tmp_path_factory.mktemp("cancer")
    frame = load_breast_cancer(as_frame=True).frame
    frame["target"] = np.where(frame["target"] == 1, "benign", "malignant")
    frame.to_csv(folder / "european.csv", sep=";", decimal=",", index=False)
    frame.to_csv(folder / "plain.csv", index=False)
    return folder


def test_decimal_commas_are_detected_read_as_numbers_and_said(cli, cancer_files, tmp_path):
    assert "\n17,99;10,38;" in (cancer_files / "european.csv").read_text()  # 17.99 the European way
    european = cli("train", cancer_files / "european.csv", "trainer.model.n_estimators=20", cwd=tmp_path)
    assert european.returncode == 0, european.stderr
    assert "read european.csv: separator semicolon, decimal comma" in european.stdout
    plain = cli("train", cancer_files / "plain.csv", "trainer.model.n_estimators=20", cwd=tmp_path)
    first, second = (Deployment.load(d) for d in deployments(tmp_path / "models"))
    assert {column["kind"] for column in first.input_schema} == {"numeric"}  # 30 numbers, no one-hots
    assert first.model.n_features_in_ == 30
    assert first.metadata["training_results"]["metrics"] == second.metadata["training_results"]["metrics"]
    assert "decimal comma" not in plain.stdout

    head = pd.read_csv(cancer_files / "european.csv", sep=";", decimal=",").head(20)
    head.drop(columns=["target"]).to_csv(tmp_path / "new.csv", sep=";", decimal=",", index=False)
    scored = predictions(cli("predict", tmp_path / "new.csv", first.directory, "--no-log"))
    assert scored == Deployment.load(first.directory).predict(head).tolist()


def test_data_decimal_overrides_the_detection(cli, cancer_files, tmp_path):
    point = cli(
        "train", cancer_files / "european.csv", "data.decimal=.", "trainer.model.n_estimators=5", cwd=tmp_path
    )
    assert point.returncode == 0, point.stderr
    [deployment] = deployments(tmp_path / "models")
    assert {c["kind"] for c in Deployment.load(deployment).input_schema} == {"categorical"}  # as asked
    bad = cli("train", cancer_files / "european.csv", "data.decimal=x", cwd=tmp_path)
    assert_one_line_error(bad, "data.decimal", "'.' or ','")


def test_grouped_thousands_with_a_decimal_comma(cli, tmp_path, models_dir):
    rng = np.random.default_rng(2)
    amounts = rng.uniform(500, 5000, 300)
    text = "amount;y\n" + "".join(
        f"{f'{a:,.2f}'.replace(',', ' ').replace('.', ',').replace(' ', '.')};{'hi' if a > 2500 else 'lo'}\n"
        for a in amounts
    )
    assert "." in text.splitlines()[1] and "," in text.splitlines()[1]  # 1.234,56
    (tmp_path / "amounts.csv").write_text(text)
    assert cli("train", tmp_path / "amounts.csv", "trainer.model.n_estimators=5").returncode == 0
    profile = json.loads((deployments(models_dir)[0] / "profile.json").read_text())
    assert profile["features"]["amount"]["kind"] == "numeric"
    assert 500 <= profile["features"]["amount"]["low"] < profile["features"]["amount"]["high"] <= 5000


# --------------------------------------------------------------------------- dates


def dated_table(rows: int = 600, seed: int = 0, start: str = "2024-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, 365, rows), unit="D")
    stamps = days + pd.to_timedelta(rng.integers(0, 24 * 60, rows), unit="min")
    x = rng.normal(size=rows)
    return pd.DataFrame(
        {
            "signup": days.strftime("%Y-%m-%d"),
            "last_seen": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "x": x,
            "y": np.where((days.month >= 7) ^ (x > 1), "summer", "winter"),
        }
    )


def test_date_columns_become_numbers_not_categories(cli, tmp_path, models_dir):
    dated_table().to_csv(tmp_path / "dated.csv", index=False)
    result = cli("train", tmp_path / "dated.csv", "trainer.model.n_estimators=30")
    assert result.returncode == 0, result.stderr
    assert "read signup, last_seen as dates (year, month, day of week, days since 1970)" in result.stdout
    assert "identifier" not in result.stderr  # 600 distinct timestamps are not an id
    deployment = only_deployment(models_dir)
    assert [c["kind"] for c in deployment.input_schema] == ["date", "date", "numeric"]
    names = list(deployment.preprocessor.transformer_.get_feature_names_out())
    assert names == [
        "x",
        *(f"signup.{part}" for part in ("year", "month", "day_of_week", "days")),
        *(f"last_seen.{part}" for part in ("year", "month", "day_of_week", "days", "hour")),
    ]
    assert deployment.metadata["training_results"]["metrics"]["accuracy"] > 0.9  # the month is learnt

    new = pd.DataFrame(
        {"signup": ["2024-02-01", "2024-08-01"], "last_seen": ["2024-02-01 10:00", None], "x": [0.0, 0.0]}
    )
    new.to_csv(tmp_path / "new.csv", index=False)
    assert predictions(cli("predict", tmp_path / "new.csv", "latest")) == ["winter", "summer"]
    new.assign(signup=["2024-02-01", "next week"]).to_csv(tmp_path / "bad.csv", index=False)
    assert_one_line_error(
        cli("predict", tmp_path / "bad.csv", "latest"), "'signup'", "ISO date", "'next week'", "row 2"
    )


def test_the_servers_openapi_schema_takes_flags_and_dates_as_predict_does(cli, tmp_path, models_dir):
    pytest.importorskip("starlette", reason="the serve extra")
    from easy_mlops.serving.openapi import openapi_document

    table = dated_table(200).assign(flag=flag_table(200)["flag"])
    table.to_csv(tmp_path / "mixed.csv", index=False)
    assert (
        cli("train", tmp_path / "mixed.csv", "trainer.model.n_estimators=5", "--target", "y").returncode == 0
    )
    row = openapi_document(only_deployment(models_dir), secured=False)["components"]["schemas"]["Row"]
    cells = row["properties"]
    assert cells["flag"]["type"] == ["boolean", "string", "number", "null"]
    assert cells["signup"]["type"] == ["string", "null"] and "ISO 8601" in cells["signup"]["description"]
    assert cells["x"]["type"] == ["number", "null"]


def test_dates_drift_as_numbers_same_dates_no_alarm_later_dates_alarm(cli, tmp_path, models_dir):
    dated_table(2000).to_csv(tmp_path / "dated.csv", index=False)
    assert cli("train", tmp_path / "dated.csv", "trainer.model.n_estimators=10").returncode == 0
    profile = json.loads((deployments(models_dir)[0] / "profile.json").read_text())
    assert (
        profile["features"]["signup"]["kind"] == "numeric"
        and profile["features"]["signup"]["values"] == "date"
    )
    dated_table(1000, seed=5).drop(columns=["y"]).to_csv(tmp_path / "same.csv", index=False)
    assert cli("predict", tmp_path / "same.csv", "latest", "-o", tmp_path / "a.json").returncode == 0
    drift = json.loads(cli("status", "latest", "--json").stdout)["drift"]
    assert drift["features"]["signup"]["drifted"] is False and drift["dataset_drift"] is False
    assert cli("status", "latest", "--fail-on-alert").returncode == 0
    later = dated_table(1000, seed=6, start="2026-01-01").drop(columns=["y"])
    later.to_csv(tmp_path / "later.csv", index=False)
    assert cli("predict", tmp_path / "later.csv", "latest", "-o", tmp_path / "b.json").returncode == 0
    drift = json.loads(cli("status", "latest", "--json").stdout)["drift"]
    assert drift["features"]["signup"]["drifted"] is True  # dates past the training range


# --------------------------------------------------------------------------- the problem type


def test_a_tiny_numeric_target_is_a_regression(cli, tmp_path, models_dir):
    rng = np.random.default_rng(3)
    height = rng.normal(170, 10, 20).round(1)
    weight = (height - 100 + rng.normal(0, 3, 20)).round().astype(int)
    pd.DataFrame({"height": height, "weight": weight}).to_csv(tmp_path / "weights.csv", index=False)
    assert pd.Series(weight).nunique() <= 20  # few enough values to have been taken for classes
    result = cli("train", tmp_path / "weights.csv", "trainer=linear_regression")
    assert result.returncode == 0, result.stderr
    assert "Hold-out metrics (regression)" in result.stdout
    assert only_deployment(models_dir).metadata["problem_type"] == "regression"


def test_a_failed_split_names_the_way_out(cli, tmp_path, models_dir):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"height": rng.normal(170, 10, 20), "weight": rng.integers(50, 100, 20)})
    frame.to_csv(tmp_path / "weights.csv", index=False)
    result = cli("train", tmp_path / "weights.csv", "trainer.problem_type=classification")
    message = assert_one_line_error(
        result, "weights.csv", "cannot split 20 rows", "have a single row", "trainer.problem_type=regression"
    )
    assert "[" not in message  # no list of every class
    assert_nothing_deployed(models_dir)


# --------------------------------------------------------------------------- columns


def mixed_table(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """An order number (sequential), a balance in cents (all distinct, not an id), notes, an empty column."""
    rng = np.random.default_rng(seed)
    balance = rng.choice(np.arange(1_000, 10_000_000), rows, replace=False)
    return pd.DataFrame(
        {
            "ticket": 5000 + np.arange(rows),  # sequential: an id whatever its name
            "balance_cents": balance,
            "notes": [f"called on day {i}" if i % 3 else None for i in range(rows)],
            "empty": np.nan,
            "y": np.where(balance > np.median(balance), "rich", "poor"),
        }
    )


def test_columns_left_out_kept_and_dropped_each_say_so(cli, tmp_path, models_dir):
    mixed_table().to_csv(tmp_path / "mixed.csv", index=False)
    result = cli(
        "train", tmp_path / "mixed.csv", "trainer.model.n_estimators=20", "preprocessing.drop_columns=[notes]"
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "warning: leaving out column(s) with no values at all: empty",
        "warning: leaving out identifier-like column(s) ticket (400 distinct values in 400 rows); "
        "keep them with preprocessing.keep_columns=[ticket]",
        "warning: column(s) balance_cents (400 distinct values in 400 rows): every value differs, kept as a "
        "feature (neither the name nor the values say id); if it is an identifier, drop it with "
        "preprocessing.drop_columns=[balance_cents]",
    ]
    deployment = only_deployment(models_dir)
    assert deployment.preprocessor.feature_columns_ == ["balance_cents"]
    assert deployment.preprocessor.left_out_ == {
        "notes": "preprocessing.drop_columns",
        "empty": "no values",
        "ticket": "identifier",
    }
    assert deployment.metadata["training_results"]["metrics"]["accuracy"] > 0.95  # the balance is learnt
    # Every left-out column may come along at predict time, silently; only the feature is needed.
    mixed_table(5, seed=1).drop(columns=["y"]).to_csv(tmp_path / "all.csv", index=False)
    scored = cli("predict", tmp_path / "all.csv", "latest", "--no-log")
    assert len(scored.stderr.splitlines()) == 1
    assert len(predictions(scored)) == 5 and scored.stderr.startswith("latest: ")  # no other line
    mixed_table(5, seed=1)[["balance_cents"]].to_csv(tmp_path / "one.csv", index=False)
    assert len(predictions(cli("predict", tmp_path / "one.csv", "latest", "--no-log"))) == 5


def test_an_unknown_column_to_drop_is_one_line(cli, tmp_path, models_dir):
    mixed_table().to_csv(tmp_path / "mixed.csv", index=False)
    result = cli("train", tmp_path / "mixed.csv", "preprocessing.drop_columns=[note]")
    assert_one_line_error(result, "preprocessing.drop_columns", "note")
    assert_nothing_deployed(models_dir)


# --------------------------------------------------------------------------- formats and encodings


def test_tsv_files_and_a_declared_encoding(cli, tmp_path, models_dir):
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=300).round(3),
            "city": rng.choice(["Zürich", "Genève", "Malmö"], 300),
            "y": rng.choice(["a", "b"], 300),
        }
    )
    frame.to_csv(tmp_path / "table.tsv", sep="\t", index=False)
    result = cli("train", tmp_path / "table.tsv", "trainer.model.n_estimators=5")
    assert result.returncode == 0, result.stderr
    assert "separator" not in result.stdout  # a tab is what a .tsv file is expected to hold

    frame.to_csv(tmp_path / "latin.csv", index=False, encoding="latin-1")
    refused = cli("train", tmp_path / "latin.csv")
    offset = (tmp_path / "latin.csv").read_bytes().index("ü".encode("latin-1"))
    assert_one_line_error(refused, "latin.csv", f"at byte offset {offset} (0xFC)", "data.encoding=latin-1")
    declared = cli("train", tmp_path / "latin.csv", "data.encoding=latin-1", "trainer.model.n_estimators=5")
    assert declared.returncode == 0, declared.stderr
    latest = max(deployments(models_dir), key=lambda d: d.name)
    assert Deployment.load(latest).metadata["run"]["data"]["format"]["encoding"] == "latin-1"
    frame.head(4).drop(columns=["y"]).to_csv(tmp_path / "new.csv", index=False, encoding="latin-1")
    assert len(predictions(cli("predict", tmp_path / "new.csv", latest, "--no-log"))) == 4  # read as trained
    unknown = cli("train", tmp_path / "latin.csv", "data.encoding=klingon")
    assert_one_line_error(unknown, "data.encoding", "klingon")


# --------------------------------------------------------------------------- the baseline


def test_the_baseline_is_shown_and_a_model_that_does_not_beat_it_is_warned_about(cli, tmp_path):
    rng = np.random.default_rng(5)
    noise = pd.DataFrame({"x": rng.normal(size=300), "y": rng.choice(["a", "a", "a", "b"], 300)})
    noise.to_csv(tmp_path / "noise.csv", index=False)
    result = cli("train", tmp_path / "noise.csv", "trainer=logistic_regression", "--no-deploy")
    assert result.returncode == 0, result.stderr
    assert "baseline (majority class)" in result.stdout
    [warning] = [line for line in result.stderr.splitlines() if "baseline" in line]
    assert warning.startswith("warning: the model does not beat the majority-class baseline on accuracy")

    signal = noise.assign(y=np.where(noise.x > 0, "a", "b"))
    signal.to_csv(tmp_path / "signal.csv", index=False)
    good = cli("train", tmp_path / "signal.csv", "trainer=logistic_regression")
    assert good.returncode == 0 and "baseline" not in good.stderr
    [directory] = deployments(tmp_path / "models")
    baseline = Deployment.load(directory).metadata["training_results"]["baseline_metrics"]
    majority = max((signal.y == "a").mean(), (signal.y == "b").mean())
    assert baseline["accuracy"] == pytest.approx(majority, abs=0.05)
