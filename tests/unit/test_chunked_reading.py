"""Reading a data file a chunk of rows at a time, and logging it a chunk at a time into one segment:
what a file larger than memory is scored and logged with."""

import io
import json

import fsspec
import numpy as np
import pandas as pd
import pytest

from easy_mlops.data.loaders import iter_table, json_array_records, load_table
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


ARRAYS = [
    "[]",
    " [ ]\n",
    "[1,2,3]",
    '[{"a": "x],\\"y", "b": [1, 2, {"c": "]"}]}, {"a": 12345}]\n',
    '[\n  {"a": 1}\n ,\n  {"a": 2}\n]\n',
    '[{"ville": "Besançon"}, 123456789]',
]


@pytest.mark.parametrize("text", ARRAYS)
@pytest.mark.parametrize("block", [1, 3, 7, 4096])
def test_a_json_array_is_cut_into_its_records_wherever_the_blocks_end(text, block):
    records = list(json_array_records(io.StringIO(text), block))
    assert [json.loads(record) for record in records] == json.loads(text)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("[1,2", "expected ',' or ']' after record 2, found the end of the file"),
        ("[1 2]", "expected ',' or ']' after record 1, found '2'"),
        ("[1,]", "record 2: Expecting value"),
        ('[{"a": }]', "record 1: Expecting value"),
        ('{"a": 1}', "not a JSON array"),
        ("[1] ]", "text after the array: ']'"),
    ],
)
def test_a_broken_json_array_names_the_record(text, problem):
    for block in (1, 4096):
        with pytest.raises(ValueError) as raised:
            list(json_array_records(io.StringIO(text), block))
        assert str(raised.value) == problem


def test_a_json_array_is_read_a_chunk_at_a_time_not_whole(tmp_path):
    path = tmp_path / "data.json"
    table(3000).to_json(path, orient="records")
    path.write_text(path.read_text()[:-200] + "BROKEN")  # a tail no whole read gets past

    chunks = iter_table(path, 1000)
    assert len(next(chunks)) == 1000  # scored before the broken tail is reached
    with pytest.raises(DataError, match=r"data.json: cannot parse as JSON: record 2,99\d: "):
        list(chunks)
    with pytest.raises(DataError, match=r"data.json: cannot parse as JSON"):
        load_table(path)


@pytest.mark.parametrize("name", ["data.jsonl", "data.json"])
def test_a_key_that_every_record_of_a_chunk_leaves_out_is_a_column_of_gaps(tmp_path, name):
    records = table(900).to_dict(orient="records")
    for record in records[:400]:
        del record["city"]  # an API that leaves out empty fields
    for record in records[600:]:
        del record["units"]  # after every column was seen
    path = tmp_path / name
    lines = name.endswith(".jsonl")
    path.write_text("\n".join(map(json.dumps, records)) if lines else json.dumps(records))

    chunks = list(iter_table(path, 300, columns=["price", "city", "units"]))
    whole = load_table(path)
    assert list(chunks[0].columns) == ["price", "units", "city"]
    assert chunks[0]["city"].isna().all() and whole["city"].isna().sum() == 400
    assert chunks[2]["units"].isna().all() and whole["units"].isna().sum() == 300
    joined = pd.concat(chunks, ignore_index=True)[whole.columns]
    pd.testing.assert_frame_equal(joined, whole, check_dtype=False)

    with pytest.raises(DataError, match=rf"{name}: missing feature column\(s\): plan$"):
        list(iter_table(path, 300, columns=["price", "plan", "city"]))  # no record holds it


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
