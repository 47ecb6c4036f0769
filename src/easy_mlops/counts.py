"""Count vectors of data profiles: their layout, and their sums.

:mod:`easy_mlops.profiles` makes the vectors (with pandas); reading and adding
them needs nothing but the standard library, so ``status`` never loads pandas.
A numeric vector is ``[under, bin 0 ... bin k, over, missing, below, above]``:
row counts, then the summed distances of the underflow below the training
minimum and of the overflow above the maximum. A categorical vector is
``[category 0 ... category k, other, missing]``.
"""

from typing import Any

# The first key of a profile file, by which the drift step finds it under any name.
PROFILE_MARKER = "easy_mlops_profile"


def numeric_parts(counts: list[float]) -> tuple[list[float], float, float, float]:
    """A numeric count vector as ``(counts of [under, bins..., over], missing, below, above)``."""
    return counts[:-3], counts[-3], counts[-2], counts[-1]


def numeric_entries(counts: list[float]) -> list[float]:
    """The row counts of a numeric vector, ``[under, bins..., over, missing]``, without the distances."""
    return counts[:-2]


def add_counts(total: dict[str, Any], batch: dict[str, Any]) -> dict[str, Any]:
    """``total`` plus ``batch``, vector by vector (either may be empty)."""
    merged = {
        "rows": total.get("rows", 0) + batch.get("rows", 0),
        "features": dict(total.get("features", {})),
    }
    for name, vector in batch.get("features", {}).items():
        merged["features"][name] = _add(merged["features"].get(name), vector)
    merged["prediction"] = _add(total.get("prediction"), batch.get("prediction"))
    return merged


def _add(left: list[int] | None, right: list[int] | None) -> list[int] | None:
    if left is None:
        return list(right) if right is not None else None
    if right is None:
        return left
    return [a + b for a, b in zip(left, right, strict=True)]
