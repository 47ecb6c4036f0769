"""Request bodies of MLflow's scoring protocol as DataFrames, and the errors a client gets.

``POST /invocations`` takes JSON with exactly one of ``dataframe_split``,
``dataframe_records``, ``instances`` or ``inputs``, or a CSV body, so that
clients and load scripts written for ``mlflow models serve`` work unchanged.
As in MLflow's protocol, ``params`` beside the data carries options:
``{"proba": true}`` (or the query's ``?proba=true``) asks for class probabilities.
"""

import io
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pandas as pd

JSON_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


class RequestError(Exception):
    """A request the server refuses, with the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_body(body: bytes, content_type: str, columns: Sequence[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The rows a request carries and its ``params`` (none for CSV); ``columns`` (the input schema)
    names positional rows."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "text/csv":
        return _csv(body), {}
    if media_type not in ("application/json", ""):
        raise RequestError(415, f"unsupported content type '{media_type}'; send application/json or text/csv")
    document = _json(body)
    if not isinstance(document, dict):
        raise RequestError(400, f"the body must be a JSON object with one of {', '.join(JSON_KEYS)}")
    given = [key for key in JSON_KEYS if key in document]
    if len(given) != 1:
        found = f"found {', '.join(given)}" if given else "found none"
        raise RequestError(400, f"the body needs exactly one of {', '.join(JSON_KEYS)} ({found})")
    key = given[0]
    try:
        frame = _frame(key, document[key], columns)
    except (TypeError, ValueError, KeyError) as exc:
        raise RequestError(400, f"'{key}' is not a table: {exc}") from exc
    if len(frame) == 0:
        raise RequestError(400, f"'{key}' has no rows")
    params = document.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise RequestError(400, "'params' must be a JSON object, such as {\"proba\": true}")
    return frame, params


FLAGS = {"true": True, "1": True, "false": False, "0": False}


def wants_probabilities(params: Mapping[str, Any], query: Mapping[str, str]) -> bool:
    """Whether the answer carries class probabilities: ``params.proba`` in the body, else ``?proba=``."""
    if "proba" in params:
        if not isinstance(params["proba"], bool):
            given = orjson.dumps(params["proba"]).decode()
            raise RequestError(400, f"'params.proba' must be true or false, not {given}")
        return params["proba"]
    flag = query.get("proba")
    if flag is None:
        return False
    if flag.lower() not in FLAGS:
        raise RequestError(400, f"'?proba={flag}': say proba=true or proba=false")
    return FLAGS[flag.lower()]


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, f"malformed JSON: {exc}") from exc


def _csv(body: bytes) -> pd.DataFrame:
    try:
        return pd.read_csv(io.BytesIO(body))
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"malformed CSV: {str(exc).strip().splitlines()[0]}") from exc


def _frame(key: str, value: Any, columns: Sequence[str]) -> pd.DataFrame:
    if key == "dataframe_split":
        if not isinstance(value, dict) or "data" not in value:
            raise ValueError("dataframe_split needs 'data' (and 'columns')")
        data, names, index = value["data"], value.get("columns") or list(columns), value.get("index")
        if isinstance(data, list):
            _check_rows(data, len(names))
            if isinstance(index, list) and len(index) != len(data):  # pandas would repeat a lone row
                raise ValueError(f"{len(data)} row(s) but {len(index)} index label(s)")
        return pd.DataFrame(data, columns=names, index=index)
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise ValueError("dataframe_records must be a list of records")
        return _records(value)
    # instances / inputs: a list of records or of rows, or a mapping of columns
    if isinstance(value, dict):
        return pd.DataFrame({name: _as_list(values) for name, values in value.items()})
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list or a mapping of columns")
    if value and isinstance(value[0], dict):
        return _records(value)
    _check_rows(value, len(columns))
    return pd.DataFrame(value, columns=list(columns))


def _records(records: list) -> pd.DataFrame:
    for number, record in enumerate(records, 1):
        if not isinstance(record, dict):
            raise ValueError(f"record {number} is not a JSON object")
    return pd.DataFrame.from_records(records)


def _check_rows(rows: list, width: int) -> None:
    """Rows of values hold one value per column (pandas would fill a short row's end with NaN); the
    rows of a single column may all be bare values."""
    if width == 1 and not any(isinstance(row, (list, dict)) for row in rows):
        return
    for number, row in enumerate(rows, 1):
        if not isinstance(row, list):
            raise ValueError(f"row {number} is not a list of values")
        if len(row) != width:
            raise ValueError(f"row {number} has {len(row)} value(s) for {width} column(s)")


def _as_list(values: Any) -> list:
    return values if isinstance(values, list) else [values]
