"""Log segments and shipping, in this process: merging, checksums, compaction, a crash mid-shipment,
and several copies of one deployment (machines) whose summed logs equal one copy given every row."""

import json
import logging
import shutil
from pathlib import Path

import fsspec
import numpy as np
import pytest

from easy_mlops import log_shipping
from easy_mlops.config.compose import compose_config
from easy_mlops.deployment.metadata import read_metadata
from easy_mlops.evaluation import evaluate_file
from easy_mlops.inference import predict_frame
from easy_mlops.log_shipping import Shipper, Spool, compact, log_store, ship
from easy_mlops.observability.prediction_index import PredictionBatch, PredictionIndex
from easy_mlops.observability.segments import (
    SegmentError,
    SegmentHeader,
    SegmentStore,
    counted,
    encode,
    read_body,
)
from easy_mlops.pipeline import run_experiment
from easy_mlops.status import deployment_html_report, deployment_report, deployment_row, deployment_status

from helpers import make_classification_frame, make_regression_frame

# --------------------------------------------------------------------------- the format


def index_of(*batches) -> PredictionIndex:
    index = PredictionIndex()
    for values, stamp in batches:
        PredictionBatch(np.asarray(values), "1.0.0", timestamp=stamp).add_to(index)
    return index


def test_merged_indexes_equal_one_index_of_every_row():
    rng = np.random.default_rng(0)
    labels = [rng.choice(["yes", "no", "maybe"], size) for size in (30, 7, 51)]
    stamps = ["2024-01-01T10:00:00", "2024-01-01T11:00:00", "2024-01-01T09:00:00"]
    whole = index_of(*zip(labels, stamps, strict=True))
    merged = PredictionIndex()
    for values, stamp in zip(labels, stamps, strict=True):
        merged.merge(index_of((values, stamp)))
    assert merged.total == whole.total == 88 and merged.counts == whole.counts
    assert (merged.first, merged.last) == ("2024-01-01T09:00:00", "2024-01-01T11:00:00")
    assert [r["timestamp"] for r in merged.recent] == ["2024-01-01T11:00:00"] * 5  # the latest five

    numbers = [rng.normal(size=size) for size in (100, 1, 2000)]
    whole = index_of(*((values, "t") for values in numbers))
    merged = PredictionIndex()
    for values in numbers:
        merged.merge(index_of((values, "t")))
    expected, got = whole.numeric.summary(), merged.numeric.summary()
    assert got["count"] == expected["count"] == 2101 and (got["min"], got["max"]) == (
        expected["min"],
        expected["max"],
    )
    assert got["mean"] == pytest.approx(expected["mean"]) and got["std"] == pytest.approx(expected["std"])
    assert len(merged.reservoir) == 2048


def test_more_than_a_hundred_labels_across_writers_stop_being_classes():
    left, right = index_of(([f"a{i}" for i in range(60)], "t")), index_of(([f"b{i}" for i in range(60)], "t"))
    left.merge(right)
    assert left.counts is None and left.total == 120


def segment(tmp_path, writer="w1", seq=0, rows=3, **extra) -> tuple[SegmentStore, SegmentHeader]:
    store = SegmentStore(fsspec.filesystem("file"), str(tmp_path / "segments"), tmp_path / "cache")
    header = SegmentHeader(writer=writer, seq=seq, created="2024-01-01T00:00:00", **extra)
    batch = PredictionBatch(np.arange(rows), "1.0.0", timestamp="2024-01-01T00:00:00")
    batch.add_to(header.index)
    store.put(header, "".join(batch.chunks()).encode())
    return store, header


def test_a_segment_reads_back_whole_and_only_its_header_is_needed(tmp_path):
    store, header = segment(
        tmp_path, drift={"2024-01-01T00": {"rows": 3, "features": {}, "prediction": [1, 2]}}
    )
    [read] = store.headers()
    assert read.name == "w1-00000000.seg" and read.rows == 3 and read.drift == header.drift
    _, body = read_body(store.fs, store.path(read.name))
    assert [json.loads(line)["prediction"] for line in body.splitlines()] == [0, 1, 2]
    assert list((tmp_path / "cache").iterdir())  # the header is kept: segments never change


def test_a_damaged_segment_is_left_out_by_name_and_never_half_counted(tmp_path, caplog):
    store, _ = segment(tmp_path)
    segment(tmp_path, writer="w2")
    damaged = Path(store.path("w2-00000000.seg"))
    damaged.write_bytes(damaged.read_bytes().replace(b'"rows": 3', b'"rows": 4', 1))  # a flipped byte
    with caplog.at_level(logging.WARNING):
        assert [header.writer for header in store.headers()] == ["w1"]
    assert "w2-00000000.seg: header checksum mismatch" in caplog.text

    body_cut = Path(store.path("w1-00000000.seg"))
    body_cut.write_bytes(body_cut.read_bytes()[:-5])
    with pytest.raises(SegmentError, match="body checksum mismatch"):
        read_body(store.fs, str(body_cut))


def test_a_compaction_hides_what_it_replaced_and_the_larger_of_two_overlapping_ones_wins():
    def named(name, replaces=()):
        return name, SegmentHeader(writer=name, seq=0, created="", replaces=list(replaces))

    found = [named("a"), named("b"), named("c"), named("x", ["a", "b"]), named("y", ["a", "b", "c"])]
    assert [header.writer for header in counted(found)] == ["y"]
    assert [header.writer for header in counted(found[:4])] == ["c", "x"]


def test_the_sum_is_kept_and_only_segments_stored_since_are_read(tmp_path, caplog):
    store, _ = segment(tmp_path, writer="w1", rows=3)
    segment(tmp_path, writer="w2", rows=4)
    assert store.total().rows == 7
    first = Path(store.path("w1-00000000.seg"))
    original = first.read_bytes()
    first.write_bytes(b"x" * len(original))  # unreadable, same size: counted only if not read again
    for cached in (tmp_path / "cache").glob("*.seg.*.json"):
        cached.unlink()

    segment(tmp_path, writer="w3", rows=5)
    with caplog.at_level(logging.WARNING):
        assert store.total().rows == 12
    assert "left out" not in caplog.text  # w1 was not read: the kept sum covers it

    first.write_bytes(original)
    compacted = SegmentHeader(writer="c", seq=0, created="", replaces=["w1-00000000.seg", "w2-00000000.seg"])
    PredictionBatch(np.arange(7), "1.0.0", timestamp="2024-01-01T00:00:00").add_to(compacted.index)
    store.put(compacted, b"")
    assert store.total().rows == 12  # summed afresh: w3 and the compaction, not what it replaced
    store.delete(["w3-00000000.seg"])
    assert store.total().rows == 7  # a covered segment went away: summed afresh
    (tmp_path / "cache" / "total.json").write_text("{not json")
    assert store.total().rows == 7


def test_encoding_records_the_body_checksum(tmp_path):
    header = SegmentHeader(writer="w", seq=1, created="now")
    data = encode(header, b'{"prediction": 1}\n')
    assert header.body_bytes == 18 and data.endswith(b'{"prediction": 1}\n')


# --------------------------------------------------------------------------- machines


@pytest.fixture
def fleet(tmp_path):
    """A deployment whose run set observability.log_uri, copied to three machines."""
    data = tmp_path / "churn.csv"
    make_classification_frame(rows=300).to_csv(data, index=False)
    cfg = compose_config(
        [
            "data=csv",
            f"data.path={data}",
            f"deployment.output_dir={tmp_path / 'models'}",
            "trainer.model.n_estimators=5",
            f"observability.log_uri={tmp_path / 'shared'}",
        ]
    )
    original = Path(run_experiment(cfg)["deployment"]["deployment_dir"])
    copies = []
    for machine in ("a", "b", "c"):
        copies.append(Path(shutil.copytree(original, tmp_path / machine / original.name)))
    return original, copies


def live(rows=120, seed=3):
    return make_classification_frame(rows=rows, seed=seed).drop(columns=["churn"])


def test_copies_ship_and_any_copy_sums_them_as_one_copy_given_every_row(fleet):
    original, (a, b, c) = fleet
    frame = live()
    predict_frame(frame.iloc[:50], a)
    predict_frame(frame.iloc[50:], b)
    predict_frame(frame, original)  # every row, on the machine that trained it (shipped too)
    summed = deployment_status(c)
    assert log_store(c).listing().keys() == {
        f"{Spool(copy / 'logs').state()['writer']}-00000000.seg" for copy in (a, b, original)
    }
    assert summed["predictions"]["total_predictions"] == 240
    assert summed["drift"]["rows"] == 240 and summed["metrics"]["total_logs"] == 1

    single = deployment_status(original)  # the same: it reads every machine's rows too
    assert single["predictions"]["distribution"] == summed["predictions"]["distribution"]


def test_every_reader_on_another_machine_sees_the_fleet(fleet, tmp_path):
    """observe, observe --html, list and evaluate's live metrics, not only status, sum every machine."""
    _, (a, b, c) = fleet
    predict_frame(live().iloc[:50], a)
    predict_frame(live().iloc[50:], b)
    labelled = tmp_path / "labelled.csv"
    make_classification_frame(rows=80, seed=11).to_csv(labelled, index=False)
    evaluate_file(labelled, b)  # live metrics measured on b, shipped with its logs

    assert "total predictions: 120" in deployment_report(c)
    page = deployment_html_report(c)
    assert "<p>120 prediction(s) logged.</p>" in page and "1 live evaluation(s) since training." in page
    assert deployment_row(c, read_metadata(c))["total_predictions"] == 120
    metrics = deployment_status(c)["metrics"]
    assert metrics["total_logs"] == 2 and metrics["live"]["evaluations"] == 1


def test_a_crash_between_storing_a_segment_and_recording_it_ships_it_again_in_its_place(
    fleet, monkeypatch, caplog
):
    _, (a, _, c) = fleet
    real_write = log_shipping.write_json_atomic

    def killed_after_the_upload(path, data, **kwargs):
        if Path(path).name == ".shipped.json" and data.get("seq") == 1:
            raise OSError("killed")
        return real_write(path, data, **kwargs)

    monkeypatch.setattr(log_shipping, "write_json_atomic", killed_after_the_upload)
    with caplog.at_level(logging.WARNING):
        predict_frame(live().iloc[:40], a)
    assert "could not ship the logs" in caplog.text
    assert deployment_status(c)["predictions"]["total_predictions"] == 40  # stored, not recorded
    monkeypatch.setattr(log_shipping, "write_json_atomic", real_write)
    predict_frame(live().iloc[40:60], a)  # the 40 again with 20 more, under the same name
    assert len(log_store(a).listing()) == 1
    assert deployment_status(c)["predictions"]["total_predictions"] == 60


def test_compaction_keeps_every_total_and_leaves_one_segment(fleet):
    original, (a, b, c) = fleet
    for copy, rows in ((a, slice(0, 30)), (b, slice(30, 90)), (a, slice(90, 120))):
        predict_frame(live().iloc[rows], copy)
    before = deployment_status(c)
    assert len(log_store(c).listing()) == 3
    assert compact(c)[:2] == (3, 120)
    assert len(log_store(c).listing()) == 1
    after = deployment_status(c)
    assert after["predictions"] == before["predictions"] and after["drift"] == before["drift"]


def test_a_machine_that_cannot_reach_the_log_location_keeps_its_rows(fleet, caplog, tmp_path):
    _, (a, _, c) = fleet
    blocked = tmp_path / "shared" / a.name
    blocked.parent.mkdir()
    blocked.write_text("a file where the segments' folder should be")
    with caplog.at_level(logging.WARNING):
        predict_frame(live().iloc[:25], a)
    assert "could not ship the logs" in caplog.text and a.name in caplog.text
    blocked.unlink()
    assert deployment_status(c)["predictions"]["total_predictions"] == 0
    assert ship(a).rows == 25  # the next shipment takes them
    assert deployment_status(c)["predictions"]["total_predictions"] == 25


def test_a_server_ships_every_so_many_rows_or_seconds(fleet, monkeypatch):
    _, (a, _, _) = fleet
    shipper = Shipper(a)
    assert (shipper.rows, shipper.seconds) == (10_000, 10.0)  # the run's defaults
    assert not shipper.logged_rows(9_999) and shipper.logged_rows(1)
    shipper.ship()
    clock = [1000.0]
    monkeypatch.setattr(log_shipping.time, "monotonic", lambda: clock[0])
    shipper.shipped_at = 1000.0
    assert not shipper.logged_rows(1) and not shipper.due()
    clock[0] += 10
    assert shipper.due() and shipper.logged_rows(1)


def test_a_deployment_without_a_log_location_has_no_store(tmp_path):
    data = tmp_path / "r.csv"
    make_regression_frame().to_csv(data, index=False)
    cfg = compose_config(
        ["data=csv", f"data.path={data}", f"deployment.output_dir={tmp_path}", "trainer=linear_regression"]
    )
    deployment = Path(run_experiment(cfg)["deployment"]["deployment_dir"])
    assert log_store(deployment) is None and ship(deployment) is None
    assert not (deployment / "logs" / ".shipped.json").exists()


def test_batch_segments_of_a_deployment_without_a_location_add_to_its_own_logs_and_compact(tmp_path):
    data = tmp_path / "churn.csv"
    make_classification_frame().to_csv(data, index=False)
    cfg = compose_config(["data=csv", f"data.path={data}", f"deployment.output_dir={tmp_path}"])
    deployment = Path(run_experiment(cfg)["deployment"]["deployment_dir"])
    predict_frame(live(30), deployment)  # its own logs/, as always
    store = log_shipping.segment_store(deployment)
    for number in range(2):  # as two --engine ray tasks write them
        header = SegmentHeader(writer="batchjob", seq=number, created="2024-01-01T00:00:00")
        batch = PredictionBatch(np.array(["yes"] * 10), "1.0.0", timestamp="2024-01-01T00:00:00")
        batch.add_to(header.index)
        store.put(header, "".join(batch.chunks()).encode())
    assert deployment_status(deployment)["predictions"]["total_predictions"] == 50
    assert compact(deployment)[:2] == (2, 20)
    assert len(store.listing()) == 1
    assert deployment_status(deployment)["predictions"]["total_predictions"] == 50
    with pytest.raises(log_shipping.ConfigError, match="observability.log_uri"):
        log_shipping.ship_now(deployment)  # its own logs are never shipped into its own segments
