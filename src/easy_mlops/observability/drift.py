"""Drift statistics between a reference profile and live counts on the same bins.

Everything here works on the count vectors of :mod:`easy_mlops.profiles`, so
a drift answer costs the same after ten predictions or ten million:

- numeric ``psi``: population stability index on the reference's deciles,
  merged from its fine bins (missing values a category of their own);
- numeric ``wasserstein``: the earth mover's distance between the binned
  distributions (bin midpoints), divided by the reference's standard
  deviation, as Evidently normalises it;
- numeric ``ks``: the largest gap between the two binned CDFs;
- categorical ``jensenshannon``: the Jensen–Shannon distance, natural log
  (0 to sqrt(ln 2)), over the top categories, "other" and "missing".
"""

import math
from typing import Any

import numpy as np

EPSILON = 1e-4  # PSI's floor for an empty group, so one missing group does not make it infinite
DECILES = 10


def shares(counts: Any) -> np.ndarray:
    array = np.asarray(counts, dtype=float)
    total = array.sum()
    return array / total if total else array


def psi(reference: Any, current: Any) -> float:
    p = np.maximum(shares(reference), EPSILON)
    q = np.maximum(shares(current), EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def jensen_shannon(reference: Any, current: Any) -> float:
    p, q = shares(reference), shares(current)
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        present = a > 0
        return float(np.sum(a[present] * np.log(a[present] / m[present])))

    return math.sqrt(max(0.0, 0.5 * kl(p) + 0.5 * kl(q)))


def decile_groups(reference_counts: list[int]) -> np.ndarray:
    """For each entry ``[under, bins..., over]``, its decile by the reference's cumulative share."""
    cumulative = np.cumsum(reference_counts) / max(1, sum(reference_counts))
    before = np.concatenate([[0.0], cumulative[:-1]])
    return np.minimum((before * DECILES).astype(int), DECILES - 1)


def numeric_score(stat: str, profile: dict[str, Any], current: list[int]) -> float:
    """``stat`` between a numeric feature's reference counts and ``current`` on its bins."""
    reference = profile["counts"]
    in_range_ref, in_range_cur = np.asarray(reference[:-1]), np.asarray(current[:-1])  # missing apart
    if stat == "psi":
        groups = decile_groups(in_range_ref.tolist())
        ref = np.bincount(groups, weights=in_range_ref, minlength=DECILES)
        cur = np.bincount(groups, weights=in_range_cur, minlength=DECILES)
        return psi([*ref, reference[-1]], [*cur, current[-1]])
    gap = np.abs(np.cumsum(shares(in_range_ref)) - np.cumsum(shares(in_range_cur)))
    if stat == "ks":
        return float(gap.max()) if gap.size else 0.0
    points = support(profile)
    distance = float(np.sum(gap[:-1] * np.diff(points)))
    std = profile.get("std") or 0.0
    return distance / std if std > 0 else distance


def support(profile: dict[str, Any]) -> np.ndarray:
    """A representative value per entry ``[under, bins..., over]``: the range ends and bin midpoints."""
    low, high = profile["low"], profile["high"]
    if low is None:
        return np.zeros(2)
    bounds = np.concatenate([[low], profile["edges"], [high]])
    midpoints = (bounds[:-1] + bounds[1:]) / 2
    return np.concatenate([[low], midpoints, [high]])


def score(profile: dict[str, Any], current: list[int], numeric_stat: str) -> tuple[str, float]:
    """The statistic used for this kind of feature, and its value."""
    if profile["kind"] == "numeric":
        return numeric_stat, numeric_score(numeric_stat, profile, current)
    return "jensenshannon", jensen_shannon(profile["counts"], current)
