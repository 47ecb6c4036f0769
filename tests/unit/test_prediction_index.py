"""The running summary beside a predictions log: totals, distributions, quantiles, catching up.

The index's maths on batches as ``log_predictions`` makes them
(:class:`PredictionBatch`), then the index file beside a real log that
another writer appended to, or that no longer matches it.
"""

import json
import logging
import math

import numpy as np
import pytest

from easy_mlops.observability import ModelMonitor
from easy_mlops.observability.prediction_index import (
    MAX_CLASSES,
    RESERVOIR_SIZE,
    PredictionBatch,
    PredictionIndex,
    RunningStats,
)

from helpers import PREDICTIONS_LOG, read_jsonl

QUANTILES = {"p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}


def indexed(values: np.ndarray, pieces: int = 7, seed: int = 0) -> PredictionIndex:
    """``values`` added as ``pieces`` batches of uneven sizes, as successive predict calls add them."""
    index = PredictionIndex()
    cuts = np.sort(np.random.default_rng(seed).choice(np.arange(1, len(values)), pieces - 1, replace=False))
    for part in np.split(values, cuts):
        PredictionBatch(part, "1.0.0").add_to(index)
    return index


def test_totals_timestamps_and_the_last_five_records():
    index = PredictionIndex()
    for hour, labels in enumerate((["yes", "no", "no"], ["yes"], ["no", "no", "yes", "yes"])):
        PredictionBatch(np.array(labels), "2.0.0", timestamp=f"2024-01-01T{10 + hour}:00:00").add_to(index)
    summary = index.summary()
    assert summary["total_predictions"] == index.lines == 8
    assert (summary["first_prediction"], summary["last_prediction"]) == (
        "2024-01-01T10:00:00",
        "2024-01-01T12:00:00",
    )
    assert [(r["timestamp"][11:13], r["row"], r["prediction"]) for r in summary["recent_predictions"]] == [
        ("11", 0, "yes"),
        ("12", 0, "no"),
        ("12", 1, "no"),
        ("12", 2, "yes"),
        ("12", 3, "yes"),
    ]
    assert summary["distribution"] == {"kind": "classes", "counts": {"no": 4, "yes": 4}}
    assert PredictionIndex().summary()["distribution"] == {}  # nothing predicted yet


def test_labels_and_numbers_with_few_values_are_classes_counted_most_frequent_first():
    assert indexed(np.array(["b"] * 5 + ["a"] * 9 + ["c"] * 2)).distribution() == {
        "kind": "classes",
        "counts": {"a": 9, "b": 5, "c": 2},
    }
    digits = indexed(np.array([3] * 4 + [1] * 6 + [2] * 5))  # a classifier's integer labels
    assert digits.distribution() == {"kind": "classes", "counts": {"1": 6, "2": 5, "3": 4}}
    many = indexed(np.arange(21.0).repeat(2))  # 21 distinct numbers: a regression's values
    assert many.distribution()["kind"] == "numeric"


def test_more_distinct_labels_than_classes_have_no_counts_and_no_distribution():
    index = indexed(np.array([f"product_{i}" for i in range(MAX_CLASSES + 50)]))
    assert index.counts is None
    assert index.summary()["distribution"] == {}  # nothing numeric to summarise either
    assert index.summary()["total_predictions"] == MAX_CLASSES + 50


@pytest.mark.parametrize("size", [21, 500, RESERVOIR_SIZE])
def test_quantiles_are_exact_up_to_the_sample_size(size):
    values = np.random.default_rng(size).lognormal(0.0, 1.0, size)
    distribution = indexed(values).distribution()
    assert distribution["kind"] == "numeric" and distribution["quantiles_exact"] is True
    assert distribution["count"] == size
    assert distribution["quantiles"] == {
        name: float(np.quantile(values, q, method="nearest")) for name, q in QUANTILES.items()
    }
    assert distribution["mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert distribution["std"] == pytest.approx(values.std(), rel=1e-12)  # of all of them
    assert (distribution["min"], distribution["max"]) == (values.min(), values.max())


@pytest.mark.parametrize("size", [RESERVOIR_SIZE + 1, 50_000])
def test_beyond_the_sample_size_quantiles_come_from_a_uniform_sample(size):
    # Rising over time, so that a sample favouring early or late batches would show.
    values = np.sort(np.random.default_rng(size).lognormal(0.0, 1.0, size))
    index = indexed(values, pieces=40)
    distribution = index.distribution()
    assert distribution["quantiles_exact"] is False and len(index.reservoir) == RESERVOIR_SIZE
    ordered = np.sort(values)
    for name, q in QUANTILES.items():
        rank = np.searchsorted(ordered, distribution["quantiles"][name]) / size
        assert rank == pytest.approx(q, abs=0.04), name  # about 3.5 standard errors of a 2,048 sample
    # Mean, std, min and max still cover every value, not the sample.
    assert distribution["mean"] == pytest.approx(values.mean(), rel=1e-9)
    assert distribution["std"] == pytest.approx(values.std(), rel=1e-9)
    assert (distribution["min"], distribution["max"]) == (values.min(), values.max())


def test_running_statistics_merge_batch_by_batch_as_numpy_computes_them_at_once():
    rng = np.random.default_rng(4)
    batches = [rng.normal(100.0, 1e-3, size) for size in (1, 1, 7, 300, 2)]  # a large mean, a tiny spread
    stats = RunningStats()
    for batch in batches:
        stats.merge(batch)
    everything = np.concatenate(batches)
    summary = stats.summary()
    assert summary["count"] == everything.size
    assert summary["mean"] == pytest.approx(everything.mean(), rel=1e-14)
    assert summary["std"] == pytest.approx(everything.std(), rel=1e-6)
    assert RunningStats.of([]).summary() == {"count": 0, "mean": 0.0, "std": 0.0, "min": None, "max": None}


def test_the_index_reads_back_as_it_was_written_and_another_version_is_not_read():
    index = indexed(np.random.default_rng(1).normal(size=3000))
    index.log_bytes, index.log_tail = 12345, "abc"
    stored = json.loads(json.dumps(index.to_json()))  # through the file's JSON
    assert PredictionIndex.from_json(stored) == index
    assert PredictionIndex.from_json({**stored, "version": 2}) is None
    assert PredictionIndex.from_json({**stored, "numeric": "broken"}) is None
    assert PredictionIndex.from_json(["not", "an", "index"]) is None


def test_a_reader_catches_up_with_lines_other_writers_appended_and_each_is_counted_once(tmp_path):
    """Two server workers append lines and index them later; status in between reads only the tail."""
    rng = np.random.default_rng(2)
    mine, server, other_worker = (ModelMonitor(log_dir=tmp_path) for _ in range(3))
    for deferred in (server, other_worker):
        deferred.get_step("predictions_logger").flush_every_s = math.inf  # indexes only when asked
    logged = []
    for writer in (mine, server, mine, other_worker, server, other_worker):
        logged.append(rng.lognormal(0.0, 1.0, int(rng.integers(50, 200))))
        writer.log_predictions(logged[-1], "1.0.0")
    everything = np.concatenate(logged)
    log_path, index_path = tmp_path / PREDICTIONS_LOG, tmp_path / "predictions_log.index.json"
    assert (
        json.loads(index_path.read_text())["log_bytes"] < log_path.stat().st_size
    )  # the workers' last lines

    status = ModelMonitor(log_dir=tmp_path).get_predictions_summary()
    assert status["total_predictions"] == everything.size
    assert status["distribution"]["quantiles"]["p50"] == float(np.quantile(everything, 0.5, method="nearest"))

    # The server folds its own batches from memory and reads the other worker's lines, before and
    # after its own, from the log ...
    server.get_step("predictions_logger").flush()
    stored = json.loads(index_path.read_text())
    assert (stored["log_bytes"], stored["total"]) == (log_path.stat().st_size, everything.size)
    # ... which the other worker, flushing later, does not count again.
    other_worker.get_step("predictions_logger").flush()
    again = ModelMonitor(log_dir=tmp_path).get_predictions_summary()
    assert again["total_predictions"] == everything.size == len(read_jsonl(log_path))
    assert json.loads(index_path.read_text())["total"] == everything.size
    index_path.unlink()
    rebuilt = ModelMonitor(log_dir=tmp_path).get_predictions_summary()
    assert rebuilt["distribution"]["quantiles"] == again["distribution"]["quantiles"]  # exact: under 2,048
    assert rebuilt["distribution"]["mean"] == pytest.approx(again["distribution"]["mean"], rel=1e-12)


def test_an_index_that_no_longer_describes_its_log_is_rebuilt_from_the_log(tmp_path, caplog):
    monitor = ModelMonitor(log_dir=tmp_path)
    monitor.log_predictions(np.array(["a", "b", "a"]), "1.0.0")
    log_path = tmp_path / PREDICTIONS_LOG
    first = log_path.read_bytes()
    # The log replaced by one of the same length or longer (restored from elsewhere, say): another start.
    log_path.write_bytes(first.replace(b'"a"', b'"c"') + first.replace(b'"a"', b'"c"'))
    with caplog.at_level(logging.WARNING):
        summary = ModelMonitor(log_dir=tmp_path).get_predictions_summary()
    assert summary["distribution"] == {"kind": "classes", "counts": {"c": 4, "b": 2}}
    assert any("does not match" in record.getMessage() for record in caplog.records)
    log_path.write_bytes(first[: first.index(b"\n") + 1])  # cut back to its first line
    assert ModelMonitor(log_dir=tmp_path).get_predictions_summary()["total_predictions"] == 1
