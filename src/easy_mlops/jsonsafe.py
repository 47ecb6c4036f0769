"""Predictions as JSON values: what ``predict`` prints and the logs record.

Kept apart from the observability steps so that scoring can import it alone;
numpy is imported by the batch converters, which only scoring calls, so
reading logs does not pay for it.
"""

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

JSON_SCALARS = {str, int, bool, type(None)}  # JSON as they are (floats may be NaN or infinite)


def now() -> str:
    """The current time as an ISO 8601 string in UTC, as every log record carries it."""
    return datetime.now(UTC).isoformat()


def json_safe(value: Any) -> Any:
    """Scalars as JSON scalars; anything else (arrays, objects) as a string."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def json_values(values: Any) -> list:
    """``json_safe`` for a whole batch: a 1-D array of numbers, booleans or text converts in bulk."""
    import numpy as np

    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "biufU":
        converted = values.tolist()
        if values.dtype.kind == "f":
            for position in np.flatnonzero(~np.isfinite(values)).tolist():
                converted[position] = str(converted[position])
        return converted
    items = values.tolist() if hasattr(values, "tolist") else list(values)
    if set(map(type, items)) <= JSON_SCALARS:  # class labels as text: a million of them in ~30 ms
        return items
    return [json_safe(value) for value in items]


def numeric_values(predictions: Any, values: list) -> "np.ndarray":
    """The finite numbers among JSON-ready ``values`` as floats (booleans and text left out).

    Taken straight from ``predictions`` when it is a 1-D integer or float array.
    """
    import numpy as np

    if isinstance(predictions, np.ndarray) and predictions.ndim == 1 and predictions.dtype.kind in "iuf":
        numbers = predictions.astype(float)
        return numbers[np.isfinite(numbers)] if predictions.dtype.kind == "f" else numbers
    return np.array([v for v in values if type(v) in (int, float)], dtype=float)


def json_input(value: Any) -> Any:
    """One prediction's input as JSON: a mapping, a list or a scalar (a table's row becomes a dict)."""
    if hasattr(value, "to_dict"):  # a pandas Series or a one-row DataFrame
        value = value.to_dict(orient="records") if hasattr(value, "columns") else value.to_dict()
    elif hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(key): json_input(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_input(item) for item in value]
    return json_safe(value)
