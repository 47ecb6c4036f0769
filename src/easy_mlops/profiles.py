"""Data profiles made of integer counts: the training split's reference, and the same counts for live data.

A numeric feature is profiled on about 100 bins between quantile edges of
the training values, plus underflow (below the training minimum), overflow
(above the maximum) and missing counts, and how far the out-of-range values
lie beyond the minimum and maximum, summed (a count alone cannot tell a
value just past the maximum from one fifty deviations out); a categorical
feature on its top categories (50 by default; with more than that, picked
on half the rows and counted on the other half) plus "other" and "missing".
Counting live data with the reference's edges and categories gives vectors
of the same shape, so windows of live data are sums of vectors: exact, and
mergeable across batches, processes and machines.

Flags (true/false, yes/no) are profiled as the categories ``true`` and
``false``, dates as the number of days since 1970; their profiles say so
(``values``), so live values are read the same way before they are counted.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from easy_mlops.columns import as_dates, as_flags, days_since_epoch
from easy_mlops.counts import PROFILE_MARKER

# 2: a text column with more than TOP_CATEGORIES categories has them counted apart from the rows that
# picked them (version 1 counted them on the same rows, which inflates their reference shares).
PROFILE_VERSION = 2
NUMERIC_BINS = 100
TOP_CATEGORIES = 50
PARALLEL_ROWS = 100_000  # from this many rows a batch's columns are counted on several threads


def numeric_reference(values: pd.Series, bins: int = NUMERIC_BINS) -> dict[str, Any]:
    """Quantile edges of ``values`` and the training counts over them."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    missing = ~np.isfinite(numbers)
    present = np.sort(numbers[~missing])  # sorted once: the quantiles and the counts both read it
    if present.size == 0:
        edges: list[float] = []
        low = high = None
    else:
        edges = np.unique(sorted_quantiles(present, np.linspace(0, 1, bins + 1)[1:-1])).tolist()
        low, high = float(present[0]), float(present[-1])
    profile = {
        "kind": "numeric",
        "edges": edges,
        "low": low,
        "high": high,
        "count": int(present.size),
        "mean": float(present.mean()) if present.size else None,
        "std": float(present.std()) if present.size else None,
    }
    profile["counts"] = sorted_counts(profile, present, int(missing.sum()))
    return profile


def sorted_quantiles(present: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``np.quantile(present, q)`` (linear method, same arithmetic) of already sorted values.

    ``np.quantile`` partitions the values again for every call; on a sorted
    array the quantiles are two lookups and an interpolation.
    """
    position = q * (present.size - 1)
    below = np.floor(position).astype(np.intp)
    above = np.minimum(below + 1, present.size - 1)
    fraction = position - below
    low, high = present[below], present[above]
    step = high - low
    # numpy's lerp: from the lower value below halfway, from the upper one above, so the ends are exact.
    return np.where(fraction >= 0.5, high - step * (1 - fraction), low + step * fraction)


def numeric_counts(reference: dict[str, Any], values: Any) -> list[float]:
    """``[underflow, bin 0 ... bin k, overflow, missing, below, above]`` of ``values`` on the reference's
    edges: counts, then the summed distances of the underflow below the minimum and the overflow above
    the maximum (the layout :mod:`easy_mlops.counts` reads)."""
    numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    missing = ~np.isfinite(numbers)
    # Sorted once, the values are counted by searching the ~100 edges in them: several times faster than
    # searching each of a million unsorted values among the edges.
    return sorted_counts(reference, np.sort(numbers[~missing]), int(missing.sum()))


def sorted_counts(reference: dict[str, Any], present: np.ndarray, missing: int) -> list[float]:
    """:func:`numeric_counts` of the sorted finite values ``present`` and a count of ``missing`` ones."""
    edges = np.asarray(reference["edges"], dtype=float)
    below_each_edge = np.searchsorted(present, edges, side="left")
    bins = np.diff(below_each_edge, prepend=0, append=present.size)
    low, high = reference["low"], reference["high"]
    under = int(np.searchsorted(present, low, side="left")) if low is not None else 0
    over = int(present.size - np.searchsorted(present, high, side="right")) if high is not None else 0
    # Values outside the training range are counted apart from the edge bins they would fall in.
    if under:
        bins[0] -= under
    if over:
        bins[-1] -= over
    below = float((low - present[:under]).sum()) if under else 0.0
    above = float((present[present.size - over :] - high).sum()) if over else 0.0
    return [under, *bins.tolist(), over, missing, below, above]


def categorical_reference(values: pd.Series, top: int = TOP_CATEGORIES) -> dict[str, Any]:
    """The ``top`` most frequent categories of ``values`` and the training counts over them.

    With more categories than that, picking the most frequent ones and counting them on the same rows
    would inflate their counts: among many categories of similar frequency, those that happened to be
    drawn more often are the ones kept (and "other" shrinks as much), so live data from the very same
    distribution would look drifted. Then the categories are picked on a fixed random half of the
    rows and counted on the other half, whose counts know nothing of the choice.
    """
    text = values.dropna().astype(str)
    counted = values
    if text.nunique() > top:
        picking = np.random.default_rng(0).random(len(values)) < 0.5
        text, counted = values[picking].dropna().astype(str), values[~picking]
    categories = text.value_counts().head(top).index.tolist()
    profile = {"kind": "categorical", "categories": categories}
    profile["counts"] = categorical_counts(profile, counted)
    return profile


def categorical_counts(reference: dict[str, Any], values: Any) -> list[int]:
    """``[category 0 ... category k, other, missing]`` of ``values``; unseen categories are "other"."""
    series = pd.Series(values)
    if _text_is_one_to_one(series):
        # Counted first, converted after: a million predictions of a few classes are a few strings to make.
        counted = series.value_counts(dropna=True)
    else:
        counted = series.dropna().astype(str).value_counts()
    positions = {category: position for position, category in enumerate(reference["categories"])}
    counts = [0] * (len(positions) + 2)
    for category, count in counted.items():
        counts[positions.get(str(category), len(positions))] += int(count)
    counts[-1] = int(series.isna().sum())
    return counts


def _text_is_one_to_one(series: pd.Series) -> bool:
    """Whether distinct values have distinct texts, so counting before ``str`` merges nothing.

    Not for floats (0.0 and -0.0 are one value, two texts) nor object columns (1 and "1").
    """
    dtype = series.dtype
    return not pd.api.types.is_object_dtype(dtype) and (
        pd.api.types.is_integer_dtype(dtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def reference_profile(
    features: pd.DataFrame, kinds: dict[str, str], predictions: Any, classes: bool
) -> dict[str, Any]:
    """The training split's profile of each feature, by its kind (numeric, boolean, date or
    categorical), and the model's predictions on the hold-out rows."""
    return {
        PROFILE_MARKER: PROFILE_VERSION,
        "version": PROFILE_VERSION,
        "rows": int(len(features)),
        "features": {str(column): feature_reference(features[column], kinds[column]) for column in features},
        "prediction": categorical_reference(pd.Series(predictions))
        if classes
        else numeric_reference(pd.Series(predictions)),
    }


def live_counts(reference: dict[str, Any], features: pd.DataFrame | None, predictions: Any) -> dict[str, Any]:
    """Count vectors of one batch of live data, shaped like the reference's (features absent from the
    batch are left out).

    Columns are independent and counting them is mostly sorting, which numpy does without the GIL: a
    large batch counts them on one thread per core (halves the time on two cores); a small one, such as
    the server's, starts no thread.
    """
    names = [name for name in reference["features"] if features is not None and name in features.columns]
    profiles = [*(reference["features"][name] for name in names), reference["prediction"]]
    columns = [*(features[name] for name in names), predictions]
    rows = len(predictions)
    threads = min(len(columns), os.cpu_count() or 1) if rows >= PARALLEL_ROWS else 1
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            *counted, prediction = pool.map(counts_on, profiles, columns)
    else:
        *counted, prediction = map(counts_on, profiles, columns)
    return {"rows": int(rows), "features": dict(zip(names, counted, strict=True)), "prediction": prediction}


def feature_reference(values: pd.Series, kind: str) -> dict[str, Any]:
    """The reference profile of one feature column of the given kind."""
    if kind in READ_AS:
        return {**feature_reference(READ_AS[kind](values), PROFILED_AS[kind]), "values": kind}
    return numeric_reference(values) if kind == "numeric" else categorical_reference(values)


def flag_text(values: Any) -> pd.Series:
    """Flags as the categories ``true``/``false`` (anything else missing)."""
    flags, _ = as_flags(pd.Series(values))
    return flags.map({1.0: "true", 0.0: "false"})


def date_days(values: Any) -> pd.Series:
    """Dates as days since 1970 (anything else missing)."""
    return days_since_epoch(as_dates(pd.Series(values))[0])


READ_AS = {"boolean": flag_text, "date": date_days}
PROFILED_AS = {"boolean": "categorical", "date": "numeric"}


def counts_on(profile: dict[str, Any], values: Any) -> list[float]:
    """The count vector of ``values`` on a numeric or categorical reference ``profile``."""
    if profile.get("values") in READ_AS:
        values = READ_AS[profile["values"]](values)
    return (numeric_counts if profile["kind"] == "numeric" else categorical_counts)(profile, values)
