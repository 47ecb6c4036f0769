"""Reading a data file a chunk of rows at a time, and logging it a chunk at a time into one segment:
what a file larger than memory is scored and logged with."""

import json

import fsspec
import numpy as np
import pandas as pd
import pytest

from easy_mlops.data.loaders import iter_table, load_table
from easy_mlops.errors import DataError
from easy_mlops.observability.prediction_index import PredictionBatch, PredictionIndex
from easy_mlops.observability.segments import SegmentBuilder, SegmentStore, read_body
from easy_mlops.profiles import live_counts, reference_profile


def table(rows: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "price": rng.normal(100, 20, rows).round(2),
            "city": rng.choice(["paris", "lyon", "nice"], rows),
            "units": rng.integers(0, 9, rows),
        }
    )


@pytest.mark.parametrize("name", ["data.csv", "data.tsv", "data.jsonl", "data.json", "data.parquet"])
def test_chunks_are_the_whole_table_cut_in_order(tmp_path, name):
    path = tmp_path / name
    frame = table()
    if name.endswith(".csv"):
        frame.to_csv(path, index=False, sep=";", decimal=",")  # detected from the start, as whole reads do
    elif name.endswith(".tsv"):
        frame.to_csv(path, index=False, sep="\t")
    elif name.endswith(".jsonl"):
        frame.to_json(path, orient="records", lines=True)
    elif name.endswith(".json"):
        frame.to_json(path, orient="records")
    else:
        frame.to_parquet(path, index=False, row_group_size=256)

    chunks = list(iter_table(path, 300))

    assert [len(chunk) for chunk in chunks] == [300, 300, 300, 100]
    joined = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(joined, load_table(path), check_dtype=False)
    assert joined["price"].tolist() == frame["price"].tolist()


def test_a_chunked_read_refuses_what_a_whole_read_refuses(tmp_path):
    repeated = tmp_path / "repeated.csv"
    repeated.write_text("a,b,a\n1,2,3\n")
    with pytest.raises(DataError, match=r"repeated.csv: duplicate column names: a"):
        list(iter_table(repeated, 10))
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b\n")
    with pytest.raises(DataError, match=r"header.csv: no rows or no columns"):
        list(iter_table(header_only, 10))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.csv: not valid UTF-8 at byte offset 8"):
        list(iter_table(latin, 10))
    assert list(iter_table(latin, 10, encoding="latin-1"))[0]["name"].tolist() == ["café"]


def test_a_segment_built_chunk_by_chunk_is_the_log_of_the_whole_batch(tmp_path):
    frame = table(2500)
    kinds = {"price": "numeric", "city": "categorical", "units": "numeric"}
    profile = reference_profile(frame.iloc[:1000], kinds, frame["city"].iloc[:1000], classes=True)
    predictions = frame["city"].to_numpy()
    store = SegmentStore(fsspec.filesystem("file"), str(tmp_path / "segments"))

    with SegmentBuilder("predict-test", 0, profile) as segment:
        for start in range(0, 2500, 1000):
            rows = slice(start, start + 1000)
            segment.add(predictions[rows], "1.0.0", {"source": "data.csv"}, frame.iloc[rows])
        where = segment.store(store)
    assert not segment.scratch.exists()  # the scratch file went with the builder

    header, body = read_body(store.fs, where)
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert [line["row"] for line in lines] == list(range(2500))  # numbered on across chunks
    assert [line["prediction"] for line in lines] == predictions.tolist()
    assert {line["metadata"]["source"] for line in lines} == {"data.csv"}
    whole = PredictionIndex()
    PredictionBatch(predictions, "1.0.0").add_to(whole)
    assert (header.rows, header.index.counts, header.index.lines) == (2500, whole.counts, 2500)
    (counts,) = header.drift.values()
    expected = live_counts(profile, frame, predictions)
    assert counts["rows"] == 2500 and counts["prediction"] == expected["prediction"]
    assert counts["features"] == expected["features"]
