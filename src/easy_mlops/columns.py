"""What a column's values mean when their text says more than their type: yes/no flags and dates.

A CSV file gives ``True`` with blanks, ``yes``/``no`` or ISO dates as text.
Read as categories they would be one-hot encoded (a date per column); the
preprocessor reads flags as 1/0 and dates as numbers, and the drift profile
counts them the same way, so both convert values through here.
"""

import re
from typing import Any

import numpy as np
import pandas as pd

# Words a flag column may hold, any case, surrounding spaces ignored.
BOOLEAN_WORDS = {
    **dict.fromkeys(("true", "t", "yes", "y", "1", "1.0"), 1.0),
    **dict.fromkeys(("false", "f", "no", "n", "0", "0.0"), 0.0),
}
# An ISO 8601 date, optionally with a time and a UTC offset: 2024-01-31, 2024-01-31T09:30:00Z.
ISO_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)
DATE_SAMPLE = 1000  # values looked at before a whole column is parsed as dates
EPOCH = pd.Timestamp("1970-01-01")
DAY = pd.Timedelta(days=1)


def is_boolean_column(values: pd.Series) -> bool:
    """A column of booleans, or of true/false or yes/no words, with at least one value (gaps allowed).

    A numeric column of 0s and 1s is left numeric: it already is one.
    """
    if pd.api.types.is_bool_dtype(values):
        return True
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return False
    present = values.dropna()
    if present.empty:
        return False
    return bool(flag_words(present.drop_duplicates()).isin(BOOLEAN_WORDS.keys()).all())


def flag_words(values: pd.Series) -> pd.Series:
    """Values as stripped, lower-case text (``True`` becomes ``true``); missing stays missing."""
    return values.astype("string").str.strip().str.lower()


def as_flags(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``(1.0 / 0.0 / NaN per row, rows holding something that is no flag)``."""
    if pd.api.types.is_bool_dtype(values) and not isinstance(values.dtype, pd.BooleanDtype):
        return values.astype("float64"), pd.Series(False, index=values.index)
    numbers = flag_words(values).map(BOOLEAN_WORDS).astype("float64")
    return numbers, numbers.isna() & values.notna()


def is_date_column(values: pd.Series) -> bool:
    """Timestamps, or text whose every value is an ISO 8601 date or timestamp."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return True
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    present = values.dropna()
    if present.empty or not all(isinstance(value, str) for value in present.head(DATE_SAMPLE)):
        return False
    if not present.head(DATE_SAMPLE).str.fullmatch(ISO_DATE).all():
        return False
    _, bad = as_dates(values)
    return not bad.any()


def as_dates(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``(naive UTC timestamps per row, rows holding something that is no date)``.

    Offsets are applied (``+02:00`` becomes UTC), so one column may mix them.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = values
    else:
        text = values.where(values.isna(), values.astype("string").str.strip())
        # Nothing but ISO text is a date here: pandas would read 12/01 or a bare year too.
        looks_like = text.isna() | text.str.fullmatch(ISO_DATE).fillna(False).astype(bool)
        stamps = pd.to_datetime(text.where(looks_like), format="ISO8601", utc=True, errors="coerce")
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps, stamps.isna() & values.notna()


def days_since_epoch(stamps: pd.Series) -> pd.Series:
    """Timestamps as (fractional) days since 1970-01-01: one number that orders them."""
    return ((stamps - EPOCH) / DAY).astype("float64")


def date_parts(stamps: pd.Series, with_hour: bool) -> dict[str, pd.Series]:
    """The numbers a model learns from a date: year, month, day of week, days since 1970 (and hour)."""
    parts = {
        "year": stamps.dt.year,
        "month": stamps.dt.month,
        "day_of_week": stamps.dt.day_of_week,
        "days": days_since_epoch(stamps),
    }
    if with_hour:
        parts["hour"] = stamps.dt.hour + stamps.dt.minute / 60
    return {name: part.astype("float64") for name, part in parts.items()}


def has_time_of_day(stamps: pd.Series) -> bool:
    """Whether any timestamp is not at midnight (then the hour is a feature too)."""
    present = stamps.dropna()
    return bool((present != present.dt.normalize()).any())


def first_bad_row(bad: pd.Series) -> tuple[int, int]:
    """Where the first bad value is: its position in ``bad``, and its 1-based row number in the file
    (a chunk of a file read in chunks is indexed by row from the file's start)."""
    position = int(np.flatnonzero(bad.to_numpy(dtype=bool))[0])
    start = bad.index.start if isinstance(bad.index, pd.RangeIndex) and bad.index.step == 1 else 0
    return position, start + position + 1


def describe(values: Any) -> str:
    """A value as a message shows it."""
    return repr(values.item() if hasattr(values, "item") else values)
