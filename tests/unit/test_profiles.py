"""Data profiles: the training split's reference in every deployment, and live counts on its bins."""

import json

import numpy as np
import pandas as pd
import pytest

from easy_mlops.counts import add_counts, numeric_parts
from easy_mlops.pipeline import run_experiment
from easy_mlops.profiles import (
    NUMERIC_BINS,
    categorical_reference,
    live_counts,
    numeric_counts,
    numeric_reference,
    sorted_quantiles,
)


def test_every_deployment_stores_the_training_profile_checksummed(compose, classification_csv, models_dir):
    artifacts = run_experiment(compose("data=csv", f"data.path={classification_csv}"))["deployment"]
    deployment = models_dir / artifacts["deployment_name"]
    profile = json.loads((deployment / "profile.json").read_text())
    metadata = json.loads((deployment / "metadata.json").read_text())
    assert "profile.json" in metadata["files"]  # verified like any artifact
    assert "profile" not in metadata["training"] and "profile" not in metadata["training_results"]
    training = pd.read_csv(classification_csv)
    train_rows = round(len(training) * 0.8)
    assert profile["rows"] == train_rows
    x1 = profile["features"]["x1"]
    assert x1["kind"] == "numeric" and 90 <= len(x1["edges"]) <= 99
    present, missing, below, above = numeric_parts(x1["counts"])
    assert sum(present) + missing == train_rows and present[0] == present[-1] == below == above == 0
    _, missing, _, _ = numeric_parts(profile["features"]["x2"]["counts"])
    assert missing > 0 and profile["features"]["x2"]["count"] + missing == train_rows  # NaNs apart
    city = profile["features"]["city"]
    assert city["kind"] == "categorical" and set(city["categories"]) == {"paris", "lyon", "nice"}
    assert city["counts"][-2] == 0 and city["counts"][-1] > 0  # no "other"; the missing ones
    assert profile["prediction"]["kind"] == "categorical"
    assert sum(profile["prediction"]["counts"]) == len(training) - train_rows  # the hold-out's predictions


def test_live_counts_have_the_reference_shape_and_add_up():
    rng = np.random.default_rng(0)
    reference = {
        "features": {
            "x": numeric_reference(pd.Series(rng.normal(size=1000))),
            "c": categorical_reference(pd.Series(rng.choice(["a", "b"], size=1000))),
        },
        "prediction": categorical_reference(pd.Series(["yes", "no"] * 500)),
    }
    live = pd.DataFrame({"x": [-99.0, 0.0, 99.0, np.nan, np.inf], "c": ["a", "z", None, "b", "a"]})
    counts = live_counts(reference, live, np.array(["yes", "no", "maybe", "yes", "yes"]))
    x = counts["features"]["x"]
    present, missing, below, above = numeric_parts(x)
    assert (present[0], present[-1], missing, sum(present) + missing) == (1, 1, 2, 5)  # NaN and inf missing
    minimum, maximum = reference["features"]["x"]["low"], reference["features"]["x"]["high"]
    assert (below, above) == pytest.approx((minimum + 99, 99 - maximum))  # how far out they are
    assert len(x) == len(reference["features"]["x"]["counts"])
    c = counts["features"]["c"]
    assert c[reference["features"]["c"]["categories"].index("a")] == 2 and c[-2:] == [1, 1]  # "z": other
    assert counts["prediction"][-2] == 1  # an unseen prediction is "other"
    twice = add_counts(add_counts({}, counts), counts)
    assert twice["rows"] == 10 and twice["features"]["x"] == [2 * n for n in x]


def test_a_large_batch_counted_on_threads_gives_the_same_counts(monkeypatch):
    import threading

    from easy_mlops import profiles

    rng = np.random.default_rng(1)
    train = pd.DataFrame(
        {f"x{i}": rng.normal(size=2000) for i in range(4)} | {"c": rng.choice(list("abc"), 2000)}
    )
    reference = {
        "features": {
            name: categorical_reference(train[name]) if name == "c" else numeric_reference(train[name])
            for name in train.columns
        },
        "prediction": categorical_reference(pd.Series(rng.choice(["yes", "no"], 2000))),
    }
    live = pd.DataFrame(
        {f"x{i}": rng.normal(0.3, 1.2, size=5000) for i in range(4)} | {"c": rng.choice(list("abd"), 5000)}
    )
    predictions = rng.choice(["yes", "no", "maybe"], 5000)
    one_thread = live_counts(reference, live, predictions)

    counted_on, count = set(), profiles.counts_on

    def counts_on(profile, values):
        counted_on.add(threading.get_ident())
        return count(profile, values)

    monkeypatch.setattr(profiles, "PARALLEL_ROWS", 1000)
    monkeypatch.setattr(profiles, "counts_on", counts_on)
    monkeypatch.setattr(profiles.os, "cpu_count", lambda: 3)
    assert live_counts(reference, live, predictions) == one_thread
    assert counted_on and threading.get_ident() not in counted_on  # counted on the pool's threads


@pytest.mark.parametrize("values", [[], [np.nan, np.nan]], ids=["empty", "all-missing"])
def test_a_numeric_reference_without_values(values):
    reference = numeric_reference(pd.Series(values, dtype=float))
    assert reference["edges"] == [] and numeric_parts(reference["counts"])[1] == len(values)


@pytest.mark.parametrize("size", [1, 2, 3, 101, 5_000])
def test_edges_from_sorted_values_are_numpys_quantiles_exactly(size):
    """The reference sorts once and interpolates: the edges must be what ``np.quantile`` gives, exactly."""
    rng = np.random.default_rng(size)
    q = np.linspace(0, 1, NUMERIC_BINS + 1)[1:-1]
    for values in (
        rng.normal(size=size),
        rng.integers(0, 4, size=size).astype(float),  # ties: edges collapse
        rng.lognormal(sigma=3, size=size) * 1e9,
        np.full(size, -2.5),
    ):
        assert np.array_equal(sorted_quantiles(np.sort(values), q), np.quantile(values, q))
        series = pd.Series(np.append(values, [np.nan, np.inf]))
        reference = numeric_reference(series)
        assert reference["edges"] == np.unique(np.quantile(values, q)).tolist()
        assert reference["counts"] == numeric_counts(reference, series)  # the training counts, recounted


def test_a_profile_of_many_categories_counts_the_kept_ones_apart_from_picking_them():
    """Among 500 equally likely codes, the 50 most frequent in a sample are the luckiest: counted on the
    rows that picked them, they hold about 16% of 4,000 rows where any 50 codes hold 10%."""
    rng = np.random.default_rng(0)
    codes = np.array([f"code{i:03d}" for i in range(500)])
    profile = categorical_reference(pd.Series(rng.choice(codes, 4000)))
    counts = profile["counts"]
    assert len(profile["categories"]) == 50
    assert sum(counts[:-2]) / sum(counts) == pytest.approx(0.1, abs=0.02)
    few = categorical_reference(pd.Series(rng.choice(["a", "b", "c"], 4000)))
    assert sum(few["counts"]) == 4000  # no choice to make: every row counted
