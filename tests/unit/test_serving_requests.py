"""Request bodies of the scoring protocol as tables, without a deployment: ``parse_body`` and
``wants_probabilities``.

What a client gets back for each body, through the handler and a real
deployment, is in tests/unit/test_serving_handlers.py; over real HTTP in
tests/e2e/test_serve.py.
"""

import json

import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from easy_mlops.serving.requests import JSON_KEYS, RequestError, parse_body, wants_probabilities

SCHEMA = ["x1", "x2", "city"]  # the deployment's input schema: it names positional rows
TABLE = pd.DataFrame({"x1": [1.5, -2.0], "x2": [3, 4], "city": ["paris", None]})
JSON = "application/json"


def parsed(document, content_type: str = JSON) -> tuple[pd.DataFrame, dict]:
    body = document if isinstance(document, bytes) else orjson.dumps(document)
    return parse_body(body, content_type, SCHEMA)


def refusal(document, content_type: str = JSON) -> tuple[int, str]:
    with pytest.raises(RequestError) as refused:
        parsed(document, content_type)
    message = str(refused.value)
    assert "\n" not in message
    return refused.value.status, message


def test_every_json_shape_and_csv_give_the_same_table():
    records = json.loads(TABLE.to_json(orient="records"))
    positional = json.loads(TABLE.to_json(orient="values"))
    columns = {name: json.loads(TABLE[name].to_json(orient="values")) for name in SCHEMA}
    documents = {
        "split": {"dataframe_split": {"columns": SCHEMA, "data": positional}},
        "split, the schema's columns": {"dataframe_split": {"data": positional}},
        "split with an index": {"dataframe_split": {"data": positional, "index": [10, 11]}},
        "records": {"dataframe_records": records},
        "instances as records": {"instances": records},
        "instances as rows": {"instances": positional},
        "inputs as columns": {"inputs": columns},
    }
    for name, document in documents.items():
        frame, params = parsed(document)
        pd.testing.assert_frame_equal(frame.reset_index(drop=True), TABLE, check_dtype=False, obj=name)
        assert params == {}, name
    csv, params = parsed(TABLE.to_csv(index=False).encode(), "text/csv")
    pd.testing.assert_frame_equal(csv, TABLE)
    assert params == {}  # a CSV body has nowhere to put params


def test_a_mapping_of_single_values_is_one_row_and_a_single_columns_rows_may_be_bare_values():
    frame, _ = parsed({"inputs": {"x1": 1.5, "x2": 3, "city": "paris"}})
    assert frame.to_dict("records") == [{"x1": 1.5, "x2": 3, "city": "paris"}]
    frame, _ = parse_body(orjson.dumps({"instances": ["", "lyon", "nice"]}), JSON, ["city"])
    assert frame["city"].tolist() == ["", "lyon", "nice"]


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("", "json"),  # no Content-Type: JSON, as curl -d sends it
        ("application/json; charset=utf-8", "json"),
        ("Application/JSON", "json"),
        ("text/csv; charset=utf-8", "csv"),
        ("TEXT/CSV", "csv"),
    ],
)
def test_media_types_are_read_without_parameters_or_case(content_type, kind):
    body = (
        orjson.dumps({"instances": [[1.5, 3, "paris"]]}) if kind == "json" else b"x1,x2,city\n1.5,3,paris\n"
    )
    frame, _ = parse_body(body, content_type, SCHEMA)
    assert frame.to_dict("records") == [{"x1": 1.5, "x2": 3, "city": "paris"}]


def test_params_are_an_object_beside_the_data():
    rows = [[1.5, 3, "paris"]]
    assert parsed({"instances": rows, "params": None})[1] == {}
    assert parsed({"instances": rows, "params": {"proba": True, "other": [1]}})[1] == {
        "proba": True,
        "other": [1],
    }


@pytest.mark.parametrize(
    ("document", "content_type", "says"),
    [
        ({"instances": "x1=1"}, JSON, "'instances' is not a table: instances must be a list or a mapping"),
        ({"inputs": 3}, JSON, "'inputs' is not a table: inputs must be a list or a mapping of columns"),
        (
            {"dataframe_records": {"x1": 1}},
            JSON,
            "'dataframe_records' is not a table: dataframe_records must be a list of records",
        ),
        (
            {"instances": [[1.5, 3, "paris"], [2.0]]},
            JSON,
            "'instances' is not a table: row 2 has 1 value(s) for 3 column(s)",
        ),
        (
            {"dataframe_split": {"columns": ["x1", "x2"], "data": [[1.5, 3], [2.0, 4, "extra"]]}},
            JSON,
            "'dataframe_split' is not a table: row 2 has 3 value(s) for 2 column(s)",
        ),
        ({"instances": [[1.5, 3, "paris"], ""]}, JSON, "'instances' is not a table: row 2 is not a list"),
        (
            {"instances": [[1.5, 3, "paris"], {"x1": 2.0}]},
            JSON,
            "'instances' is not a table: row 2 is not a list",
        ),
        (
            {"instances": [{"x1": 2.0}, [1.5, 3, "paris"]]},
            JSON,
            "'instances' is not a table: record 2 is not",
        ),
        (
            {"dataframe_records": [[1.5, 3, "paris"]]},
            JSON,
            "'dataframe_records' is not a table: record 1 is not",
        ),
        ({"inputs": {"x1": [1, 2], "x2": [3]}}, JSON, "'inputs' is not a table: All arrays must be"),
        ({"inputs": {}}, JSON, "'inputs' has no rows"),
        ({"instances": [{}]}, JSON, "'instances' has no rows"),
        (
            {"dataframe_split": {"data": [[1.5, 3, "paris"]], "index": [10, 11]}},
            JSON,
            "'dataframe_split' is not a table: 1 row(s) but 2 index label(s)",
        ),
        (b"", JSON, "malformed JSON"),
        (b'{"instances": [[1e999, 3, "paris"]]}', JSON, "malformed JSON: number is infinity"),
        (b"", "text/csv", "malformed CSV: No columns to parse from file"),
        (b"x1,city\n1,caf\xe9\n", "text/csv", "malformed CSV: 'utf-8' codec can't decode byte 0xe9"),
        (b"x1\n1\n", "text/plain; charset=utf-8", "unsupported content type 'text/plain'"),
    ],
    ids=[
        "instances-text",
        "inputs-number",
        "records-mapping",
        "short-row",
        "long-split-row",
        "text-among-rows",
        "record-among-rows",
        "row-among-records",
        "rows-as-records",
        "unequal-columns",
        "no-columns",
        "empty-record",
        "index-longer-than-data",
        "empty-body",
        "infinity",
        "empty-csv",
        "latin-1-csv",
        "plain-text",
    ],
)
def test_what_is_no_table_is_refused_in_one_line(document, content_type, says):
    status, message = refusal(document, content_type)
    assert status == (415 if "content type" in says else 400)
    assert message.startswith(says), message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=16,
)


@pytest.mark.filterwarnings("error")  # pandas padding a short row with NaN, for one, warns
@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({}, optional={key: json_values for key in (*JSON_KEYS, "params")}))
def test_any_json_document_is_a_table_with_rows_or_a_400(document):
    """Whatever a client sends, the server answers a table or says why not: never a 500."""
    body = json.dumps(document).encode()  # json, not orjson: integers past 64 bits and infinities too
    try:
        frame, params = parse_body(body, JSON, SCHEMA)
    except RequestError as refused:
        assert refused.status == 400 and "\n" not in str(refused)
        return
    assert len(frame) > 0 and isinstance(params, dict)


@pytest.mark.parametrize(
    ("params", "query", "wanted"),
    [
        ({}, {}, False),
        ({"proba": True}, {}, True),
        ({"proba": False}, {"proba": "true"}, False),  # the body wins over the query
        ({}, {"proba": "TRUE"}, True),
        ({}, {"proba": "1"}, True),
        ({}, {"proba": "False"}, False),
        ({}, {"proba": "0"}, False),
    ],
)
def test_probabilities_are_asked_for_by_params_or_the_query(params, query, wanted):
    assert wants_probabilities(params, query) is wanted


def test_a_proba_that_is_no_flag_is_refused_naming_what_was_given():
    for params, query, says in (
        ({"proba": "yes"}, {}, "'params.proba' must be true or false, not \"yes\""),
        ({"proba": None}, {"proba": "true"}, "'params.proba' must be true or false, not null"),
        ({}, {"proba": "yes"}, "'?proba=yes': say proba=true or proba=false"),
    ):
        with pytest.raises(RequestError) as refused:
            wants_probabilities(params, query)
        assert (refused.value.status, str(refused.value)) == (400, says)
