"""Observability as the guide describes it, on real log files.

Covers the guide's sections "Observability at a Glance" through "Log
Management and Automation": threshold checks, step lists, custom steps,
reports, and the JSON Lines logs a deployment keeps under ``logs/`` (pieces,
corrupted lines, deferred indexing). The same logs written by the commands
and by concurrent processes: tests/e2e/test_observability_commands.py.
"""

import json
import logging
import statistics
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from easy_mlops.inference import predict_file
from easy_mlops.observability import ModelMonitor, ObservabilityStep
from easy_mlops.status import deployment_status

from helpers import METRICS_LOG, PREDICTIONS_LOG, append_bytes, is_timestamp, read_jsonl, train


def insert_line(path: Path, after_line: int, line: bytes) -> None:
    """Rewrite ``path`` with ``line`` inserted after line number ``after_line``."""
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:after_line]) + line + b"".join(lines[after_line:]))


def std_matches(value: float, samples: list[float]) -> bool:
    """Population or sample standard deviation (the guide does not say which)."""
    return value in (pytest.approx(statistics.pstdev(samples)), pytest.approx(statistics.stdev(samples)))


# --------------------------------------------------------------------------- the guide's snippets


def test_threshold_check_snippet_from_the_guide():
    monitor = ModelMonitor(
        {
            "track_metrics": True,
            "log_predictions": True,
            "alert_threshold": 0.8,
            "metric_thresholds": {"accuracy": 0.85},
        }
    )
    should_alert = monitor.check_metric_threshold("accuracy", value=0.82)
    assert should_alert is True  # the per-metric 0.85 wins over the global 0.8
    assert monitor.check_metric_threshold("accuracy", value=0.9) is False
    assert monitor.check_metric_threshold("accuracy", value=0.85) is False  # on the threshold is fine
    # Metrics without their own threshold use alert_threshold.
    assert monitor.check_metric_threshold("f1_score", value=0.82) is False
    assert monitor.check_metric_threshold("f1_score", value=0.79) is True


def test_error_metrics_are_lower_is_better_and_directions_override():
    monitor = ModelMonitor({"metric_thresholds": {"rmse": 0.45}})
    assert monitor.check_metric_threshold("rmse", value=0.5) is True  # error above threshold alerts
    assert monitor.check_metric_threshold("rmse", value=0.4) is False

    inverted = ModelMonitor({"metric_thresholds": {"rmse": 0.45}, "metric_directions": {"rmse": "higher"}})
    assert inverted.check_metric_threshold("rmse", value=0.5) is False
    assert inverted.check_metric_threshold("rmse", value=0.4) is True

    custom = ModelMonitor({"metric_thresholds": {"latency": 200}, "metric_directions": {"latency": "lower"}})
    assert custom.check_metric_threshold("latency", value=250) is True
    assert custom.check_metric_threshold("latency", value=150) is False


def test_bad_direction_is_rejected():
    with pytest.raises(ValueError, match="sideways"):
        ModelMonitor({"metric_directions": {"rmse": "sideways"}})


def test_global_alert_threshold_is_the_fallback():
    monitor = ModelMonitor({"alert_threshold": 0.8})
    for metric in ("accuracy", "f1_score", "precision", "my_custom_score"):
        assert monitor.check_metric_threshold(metric, value=0.79) is True, metric
        assert monitor.check_metric_threshold(metric, value=0.81) is False, metric
    assert ModelMonitor().check_metric_threshold("accuracy", value=0.79) is True  # default is 0.8


def test_fallback_when_the_threshold_step_is_left_out_of_steps():
    monitor = ModelMonitor({"steps": ["metrics_logger"], "alert_threshold": 0.8})
    assert monitor.check_metric_threshold("accuracy", value=0.7) is True
    assert monitor.check_metric_threshold("accuracy", value=0.9) is False
    # Prediction capture was left out too: summaries say so.
    assert monitor.get_predictions_summary() == {"message": "Prediction logging disabled"}

    flat = ModelMonitor(
        {
            "steps": ["metrics_logger"],
            "alert_threshold": 0.8,
            "metric_thresholds": {"accuracy": 0.95, "rmse": 0.45},
        }
    )
    assert flat.check_metric_threshold("accuracy", value=0.9) is True
    assert flat.check_metric_threshold("rmse", value=0.5) is True
    assert flat.check_metric_threshold("rmse", value=0.4) is False


def test_generate_report_has_totals_timestamps_and_latest_metrics(tmp_path):
    monitor = ModelMonitor({"alert_threshold": 0.8})
    monitor.log_metrics({"accuracy": 0.8123, "f1_score": 0.7012}, model_version="1.0.0")
    monitor.log_metrics({"accuracy": 0.9345, "f1_score": 0.9012}, model_version="1.1.0")
    monitor.log_prediction({"x1": 0.5}, "yes", model_version="1.1.0", metadata={"request_id": "r1"})
    monitor.log_prediction({"x1": -1.0}, "no", model_version="1.1.0")

    report = monitor.generate_report()
    metrics = monitor.get_metrics_summary()
    assert metrics["total_logs"] == 2
    assert metrics["latest_metrics"] == {"accuracy": 0.9345, "f1_score": 0.9012}
    assert is_timestamp(metrics["first_log"]) and is_timestamp(metrics["last_log"])
    assert metrics["first_log"] <= metrics["last_log"]
    assert "total logs:  2" in report
    assert metrics["first_log"] in report and metrics["last_log"] in report
    assert "0.9345" in report and "0.9012" in report
    assert "total predictions: 2" in report
    predictions = monitor.get_predictions_summary()
    assert predictions["first_prediction"] in report and predictions["last_prediction"] in report
    assert [r["prediction"] for r in predictions["recent_predictions"]] == ["yes", "no"]
    assert predictions["recent_predictions"][0]["metadata"] == {"request_id": "r1"}

    # Saved to disk, the same report comes back from a fresh monitor.
    monitor.save_logs(tmp_path / "logs")
    assert len(read_jsonl(tmp_path / "logs" / METRICS_LOG)) == 2
    assert len(read_jsonl(tmp_path / "logs" / PREDICTIONS_LOG)) == 2
    assert ModelMonitor({"alert_threshold": 0.8}, log_dir=tmp_path / "logs").generate_report() == report


SENT_TO_SLACK: list = []


def send_to_slack(metrics, model_version):
    SENT_TO_SLACK.append((dict(metrics), model_version))


class SlackAlertStep(ObservabilityStep):
    name = "slack_alert"

    def on_log_metrics(self, metrics, model_version):
        if metrics.get("accuracy", 1) < 0.7:
            send_to_slack(metrics, model_version)


@pytest.fixture
def slack_step():
    SENT_TO_SLACK.clear()
    ModelMonitor.register_step(SlackAlertStep)
    yield SlackAlertStep
    ModelMonitor.STEP_REGISTRY.pop("slack_alert", None)  # keep the registry as other tests expect it
    SENT_TO_SLACK.clear()


def settings(step):
    """A step's scalar and mapping settings (what its config set), without its state."""
    return {k: v for k, v in vars(step).items() if isinstance(v, (bool, int, float, str, dict, type(None)))}


def test_a_snapshots_steps_are_built_as_the_schema_would_build_them(compose, classification_csv):
    """predict and status build the monitor from the snapshot's plain YAML; the result must be the
    monitor the schema-checked section gives (and the section is still there to read)."""
    from easy_mlops.config.snapshot import snapshot_config
    from easy_mlops.deployment.metadata import read_snapshot_data
    from easy_mlops.monitoring import deployment_monitor

    deployment = train(
        compose,
        classification_csv,
        "observability.alert_threshold=0.7",
        "+observability.metric_thresholds.f1_score=0.75",
        "observability.drift.window=24h",
    )
    plain = deployment_monitor(deployment)
    checked = ModelMonitor(snapshot_config(read_snapshot_data(deployment)).observability, deployment / "logs")
    assert [type(step) for step in plain.steps] == [type(step) for step in checked.steps]
    assert [settings(step) for step in plain.steps] == [settings(step) for step in checked.steps]
    steps = {step.name: step for step in plain.steps}
    assert steps["metric_threshold"].metric_thresholds == {"f1_score": 0.75}
    assert steps["drift"].window == "24h"
    assert plain.config.alert_threshold == 0.7


def test_a_snapshot_interpolation_is_resolved_as_before(tmp_path, monkeypatch):
    """A secret stays an interpolation in the snapshot; such a section goes through OmegaConf."""
    monkeypatch.setenv("TEAM_THRESHOLD", "0.6")
    step = {"_target_": "easy_mlops.observability.steps.MetricThresholdStep"}
    snapshot = {"observability": {"steps": {"metric_threshold": {**step, "default_threshold": 0.9}}}}
    assert ModelMonitor.from_snapshot(snapshot, tmp_path).steps[0].default_threshold == 0.9
    threshold = "${oc.env:TEAM_THRESHOLD}"
    snapshot["observability"]["steps"]["metric_threshold"]["default_threshold"] = threshold
    assert ModelMonitor.from_snapshot(snapshot, tmp_path).steps[0].default_threshold == 0.6
    snapshot["team"] = {"threshold": threshold}  # pointing outside the section, as a secret's does
    snapshot["observability"]["steps"]["metric_threshold"]["default_threshold"] = "${team.threshold}"
    assert ModelMonitor.from_snapshot(snapshot, tmp_path).steps[0].default_threshold == 0.6


def test_custom_step_registered_and_named_in_steps_is_called(slack_step, tmp_path):
    monitor = ModelMonitor({"steps": ["metrics_logger", "slack_alert"]}, log_dir=tmp_path / "logs")
    assert [type(step).__name__ for step in monitor.steps] == ["MetricsLoggerStep", "SlackAlertStep"]
    monitor.log_metrics({"accuracy": 0.65}, model_version="2.0.0")
    monitor.log_metrics({"accuracy": 0.95}, model_version="2.0.1")
    assert SENT_TO_SLACK == [({"accuracy": 0.65}, "2.0.0")]
    assert len(read_jsonl(tmp_path / "logs" / METRICS_LOG)) == 2  # the built-in step still ran


class RowCounterStep(ObservabilityStep):
    """A custom step with only the per-row hook: it must still see every row of a batch."""

    name = "row_counter"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list = []

    def on_log_prediction(self, input_data, prediction, model_version, metadata=None):
        self.seen.append((input_data, prediction, model_version))


def test_a_per_row_hook_sees_every_row_of_a_batch(tmp_path):
    ModelMonitor.register_step(RowCounterStep)
    try:
        monitor = ModelMonitor({"steps": ["predictions_logger", "row_counter"]}, log_dir=tmp_path)
    finally:
        ModelMonitor.STEP_REGISTRY.pop("row_counter", None)
    monitor.log_predictions(np.array([2, 0, 1]), "3.0.0")
    assert monitor.steps[1].seen == [(None, 2, "3.0.0"), (None, 0, "3.0.0"), (None, 1, "3.0.0")]
    frame = pd.DataFrame({"x": [1.5, 2.5]})
    monitor.log_predictions(np.array([7, 8]), "3.0.0", inputs=frame)  # a scored table's rows
    assert monitor.steps[1].seen[3:] == [({"x": 1.5}, 7, "3.0.0"), ({"x": 2.5}, 8, "3.0.0")]


@pytest.mark.parametrize(
    "batch",
    [[4, 5, 6, 7, 8, 9, 10], [0.5, float("nan"), 1.5, float("inf"), 2.5, 3.5, 4.5], list("abcdefg")],
    ids=["ints", "floats", "text"],
)
def test_a_batch_written_in_several_pieces_reads_back_whole(tmp_path, monkeypatch, batch):
    from easy_mlops.observability import prediction_index

    monkeypatch.setattr(prediction_index, "LINES_PER_WRITE", 3)  # 7 rows: pieces of 3, 3 and 1
    monitor = ModelMonitor(log_dir=tmp_path)
    monitor.log_predictions(np.array(batch), "1.0.0")
    monitor.log_predictions(np.array(batch[:2]), "1.0.0")
    records = read_jsonl(tmp_path / PREDICTIONS_LOG)
    assert [r["row"] for r in records] == [0, 1, 2, 3, 4, 5, 6, 0, 1]
    expected = [v if isinstance(v, str) or np.isfinite(v) else str(v) for v in batch]
    assert [r["prediction"] for r in records] == expected + expected[:2]
    assert monitor.get_predictions_summary()["total_predictions"] == 9
    index = json.loads((tmp_path / "predictions_log.index.json").read_text())
    assert index["log_bytes"] == (tmp_path / PREDICTIONS_LOG).stat().st_size


@pytest.mark.parametrize(
    "labels",
    [
        np.array([2, 0, 1] * 8),
        np.array(["yes", 'say "no"', "caf\u00e9"] * 8),
        np.array([True, False] * 12),
        np.array([1, True, 1.0, "1"] * 6, dtype=object),
    ],
    ids=["ints", "text", "booleans", "mixed"],
)
def test_labels_encoded_once_each_still_make_each_records_own_line(tmp_path, monkeypatch, labels):
    """A classifier's labels are encoded once per distinct value, with the rest of the line around
    them; every line must still be its record's JSON, each value keeping its type (1, True, 1.0)."""
    from easy_mlops.observability import prediction_index

    monkeypatch.setattr(prediction_index, "LINES_PER_WRITE", 5)
    ModelMonitor(log_dir=tmp_path).log_predictions(labels, "1.0.0", {"source": "new.csv"})
    lines = (tmp_path / PREDICTIONS_LOG).read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert lines == [json.dumps(record) for record in records]
    assert [record["row"] for record in records] == list(range(len(labels)))
    typed = [(type(record["prediction"]), record["prediction"]) for record in records]
    assert typed == [(type(value), value) for value in labels.tolist()]
    assert all(record["metadata"] == {"source": "new.csv"} for record in records)


def test_unknown_step_name_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="pager_duty"):
        ModelMonitor({"steps": ["metrics_logger", "pager_duty"]})
    with pytest.raises(ValueError, match="pager_duty"):
        ModelMonitor({"steps": [{"type": "pager_duty", "params": {}}]})


def test_guide_steps_list_with_type_and_params():
    monitor = ModelMonitor(
        {
            "steps": [
                "metrics_logger",
                {
                    "type": "metric_threshold",
                    "params": {
                        "default_threshold": 0.75,
                        "metric_thresholds": {"accuracy": 0.8},
                        "metric_directions": {"rmse": "higher"},
                    },
                },
            ]
        }
    )
    assert [type(step).__name__ for step in monitor.steps] == ["MetricsLoggerStep", "MetricThresholdStep"]
    assert monitor.check_metric_threshold("accuracy", 0.79) is True
    assert monitor.check_metric_threshold("accuracy", 0.81) is False
    assert monitor.check_metric_threshold("f1_score", 0.74) is True  # default_threshold 0.75
    assert monitor.check_metric_threshold("f1_score", 0.76) is False
    assert monitor.check_metric_threshold("rmse", 0.5) is True  # inverted: higher is better now
    assert monitor.check_metric_threshold("rmse", 0.9) is False
    # "Omitting predictions_logger removes prediction capture entirely."
    monitor.log_predictions([1, 2, 3])
    assert monitor.get_predictions_summary() == {"message": "Prediction logging disabled"}


def test_complete_configuration_example_is_accepted(tmp_path):
    monitor = ModelMonitor(
        {
            "track_metrics": True,
            "log_predictions": True,
            "alert_threshold": 0.82,
            "metric_thresholds": {"f1_score": 0.78, "rmse": 0.45},
            "metric_directions": {"rmse": "lower"},
            "steps": [
                "metrics_logger",
                "predictions_logger",
                {
                    "type": "metric_threshold",
                    "params": {"default_threshold": 0.82, "metric_thresholds": {"precision": 0.75}},
                },
            ],
        },
        log_dir=tmp_path / "logs",
    )
    assert [type(step).__name__ for step in monitor.steps] == [
        "MetricsLoggerStep",
        "PredictionsLoggerStep",
        "MetricThresholdStep",
    ]
    assert monitor.check_metric_threshold("precision", 0.74) is True
    assert monitor.check_metric_threshold("precision", 0.76) is False
    assert monitor.check_metric_threshold("accuracy", 0.81) is True  # default_threshold 0.82
    assert monitor.check_metric_threshold("accuracy", 0.83) is False
    # The step's params refine the section's thresholds instead of replacing them.
    assert monitor.check_metric_threshold("f1_score", 0.80) is False  # 0.78, not the 0.82 default
    assert monitor.check_metric_threshold("rmse", 0.5) is True  # 0.45, lower is better
    alerts = monitor.log_metrics({"accuracy": 0.9, "precision": 0.7})
    assert [alert["metric"] for alert in alerts] == ["precision"]
    monitor.log_predictions([0.1, 0.2])
    assert monitor.get_predictions_summary()["total_predictions"] == 2
    assert len(read_jsonl(tmp_path / "logs" / PREDICTIONS_LOG)) == 2


def warned_lines(caplog, filename: str) -> set[int]:
    found = set()
    for record in caplog.records:
        message = record.getMessage()
        if record.levelno >= logging.WARNING and filename in message and " line " in message:
            found.add(int(message.split(" line ")[1].split(":")[0].split()[0]))
    return found


def test_warnings_name_the_right_line_after_a_half_line_is_closed(tmp_path, caplog):
    logs = tmp_path / "logs"
    monitor = ModelMonitor(log_dir=logs)
    monitor.log_predictions(["a"] * 240)
    append_bytes(logs / PREDICTIONS_LOG, b'{"timestamp": "x", "predi\n')  # line 241
    append_bytes(logs / PREDICTIONS_LOG, b'{"timestamp": "y", "pred')  # line 242, no newline
    monitor.log_predictions(["b"] * 10)  # lines 243-252
    append_bytes(logs / PREDICTIONS_LOG, b"garbage\n")  # line 253
    assert (logs / PREDICTIONS_LOG).read_bytes().count(b"\n") == 253

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        summary = ModelMonitor(log_dir=logs).get_predictions_summary()
    assert summary["total_predictions"] == 250
    assert summary["distribution"]["counts"] == {"a": 240, "b": 10}
    assert 253 in warned_lines(caplog, PREDICTIONS_LOG), caplog.text
    assert warned_lines(caplog, PREDICTIONS_LOG) <= {241, 242, 253}, caplog.text


def test_a_non_json_line_in_the_middle_of_existing_logs(compose, classification_csv, caplog):
    deployment = train(compose, classification_csv)
    logs = deployment / "logs"
    monitor = ModelMonitor(log_dir=logs)
    monitor.log_metrics({"accuracy": 0.91})
    monitor.log_metrics({"accuracy": 0.92})
    predictions = predict_file(classification_csv, deployment)
    insert_line(logs / PREDICTIONS_LOG, 100, b"this line is not JSON\n")
    insert_line(logs / METRICS_LOG, 1, b"nor is this one\n")

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        summary = deployment_status(deployment)
    assert summary["metrics"]["total_logs"] == 3
    assert summary["metrics"]["latest_metrics"] == {"accuracy": 0.92}
    assert warned_lines(caplog, METRICS_LOG) == {2}, caplog.text
    assert summary["predictions"]["total_predictions"] == 240
    assert summary["predictions"]["distribution"]["counts"] == dict(Counter(predictions))
    assert warned_lines(caplog, PREDICTIONS_LOG) == {101}, caplog.text

    # Appends after the damage are whole and counted.
    more = predict_file(classification_csv, deployment)
    lines = (logs / PREDICTIONS_LOG).read_bytes().split(b"\n")
    assert [json.loads(line)["prediction"] for line in lines[-241:-1]] == more
    assert deployment_status(deployment)["predictions"]["total_predictions"] == 480


# --------------------------------------------------------------------------- summaries


def test_metric_trends_appear_from_the_second_log(tmp_path):
    logs = tmp_path / "logs"
    monitor = ModelMonitor(log_dir=logs)
    monitor.log_metrics({"accuracy": 0.80, "rmse": 1.5})
    assert not monitor.get_metrics_summary().get("trends")
    assert "trend" not in monitor.generate_report()

    monitor.log_metrics({"accuracy": 0.90, "rmse": 1.0})
    monitor.log_metrics({"accuracy": 0.85, "rmse": 0.5})
    summary = ModelMonitor(log_dir=logs).get_metrics_summary()  # read back from disk
    assert summary["total_logs"] == 3
    assert summary["latest_metrics"] == {"accuracy": 0.85, "rmse": 0.5}
    for name, values in {"accuracy": [0.80, 0.90, 0.85], "rmse": [1.5, 1.0, 0.5]}.items():
        trend = summary["trends"][name]
        assert trend["mean"] == pytest.approx(statistics.mean(values))
        assert std_matches(trend["std"], values)
        assert (trend["min"], trend["max"]) == (min(values), max(values))
    report = ModelMonitor(log_dir=logs).generate_report()
    assert "trend accuracy: mean 0.85" in report


def test_regression_predictions_summary_is_a_numeric_distribution(compose, regression_csv):
    deployment = train(compose, regression_csv)
    predictions = predict_file(regression_csv, deployment)
    distribution = deployment_status(deployment)["predictions"]["distribution"]
    assert distribution["kind"] == "numeric"
    assert distribution["mean"] == pytest.approx(statistics.mean(predictions))
    assert std_matches(distribution["std"], predictions)
    assert (distribution["min"], distribution["max"]) == pytest.approx((min(predictions), max(predictions)))
    quantiles = distribution["quantiles"]
    assert list(quantiles) == ["p5", "p25", "p50", "p75", "p95"]
    assert list(quantiles.values()) == sorted(quantiles.values())
    ordered = sorted(predictions)
    assert ordered[119] <= quantiles["p50"] <= ordered[120]
    assert ordered[0] <= quantiles["p5"] <= ordered[24] and ordered[215] <= quantiles["p95"] <= ordered[-1]
    from easy_mlops.monitoring import deployment_monitor
    from easy_mlops.observability.report import render_report

    assert "predicted values: mean" in render_report(deployment_monitor(deployment).summary())


def test_deferred_indexing_by_two_writers_gives_the_index_a_rebuild_gives(tmp_path):
    """Two servers' writers append to one log and index later, each folding its own lines from memory."""
    from easy_mlops.observability.steps import PredictionsLoggerStep

    writers = [ModelMonitor(log_dir=tmp_path) for _ in range(2)]
    for monitor in writers:
        [step] = [s for s in monitor.steps if isinstance(s, PredictionsLoggerStep)]
        step.flush_every_s = 3600  # only when asked
    rng = np.random.default_rng(3)
    for turn in range(12):
        writer = writers[turn % 2] if turn % 5 else writers[1]
        writer.log_predictions(rng.choice(["a", "b", "c"], size=int(rng.integers(1, 50))), "1.0.0")
        if turn == 6:
            writers[0].get_step("predictions_logger").flush()  # one refresh in the middle
    for monitor in writers:
        monitor.get_step("predictions_logger").flush()
    indexed = ModelMonitor(log_dir=tmp_path).get_predictions_summary()
    (tmp_path / "predictions_log.index.json").unlink()
    rebuilt = ModelMonitor(log_dir=tmp_path).get_predictions_summary()
    assert indexed == rebuilt
    assert indexed["total_predictions"] == len(read_jsonl(tmp_path / PREDICTIONS_LOG))
