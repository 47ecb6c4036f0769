"""Drift statistics between a reference profile and live counts on the same bins.

Everything here works on the count vectors of :mod:`easy_mlops.profiles`, so
a drift answer costs the same after ten predictions or ten million; windows
are sums of hourly vectors (:mod:`easy_mlops.observability.drift_windows`,
which reading the logs needs without numpy). The statistics, each named in
the registry of :mod:`easy_mlops.observability.drift_statistics`:

- numeric ``psi``: population stability index on the reference's deciles,
  merged from its fine bins (values below the training minimum, above the
  maximum, and missing values are groups of their own);
- numeric ``wasserstein``: the earth mover's distance between the binned
  distributions (bin midpoints; beyond the training range, the exact mean
  distance past it), divided by the reference's standard deviation, as
  Evidently normalises it;
- numeric ``ks``: the largest gap between the two binned CDFs;
- categorical ``jensenshannon``: the Jensen–Shannon distance, natural log
  (0 to sqrt(ln 2)), over the top categories, "other" and "missing".
"""

import math
from typing import Any

import numpy as np

from easy_mlops.counts import numeric_parts

EPSILON = 1e-4  # PSI's floor for an empty group, so one missing group does not make it infinite
DECILES = 10


def shares(counts: Any) -> np.ndarray:
    array = np.asarray(counts, dtype=float)
    total = array.sum()
    return array / total if total else array


def psi(reference: Any, current: Any) -> float:
    return float(np.sum(psi_terms(shares(reference), shares(current))))


def psi_terms(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Each group's part of the PSI between shares ``p`` and ``q`` (arrays of any shape, elementwise)."""
    p, q = np.maximum(p, EPSILON), np.maximum(q, EPSILON)
    return (q - p) * np.log(q / p)


def jensen_shannon(reference: Any, current: Any) -> float:
    return math.sqrt(max(0.0, float(np.sum(jensen_shannon_terms(shares(reference), shares(current))))))


def jensen_shannon_terms(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Each entry's part of the Jensen-Shannon divergence (the distance squared), elementwise."""
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 log 0 is 0: the where picks it
        return 0.5 * (np.where(p > 0, p * np.log(p / m), 0.0) + np.where(q > 0, q * np.log(q / m), 0.0))


def decile_groups(reference_counts: list[float]) -> np.ndarray:
    """For each bin, its decile by the reference's cumulative share."""
    cumulative = np.cumsum(reference_counts) / max(1, sum(reference_counts))
    before = np.concatenate([[0.0], cumulative[:-1]])
    return np.minimum((before * DECILES).astype(int), DECILES - 1)


def psi_groups(profile: dict[str, Any], current: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """The reference's and ``current``'s counts over PSI's groups: ``[below the minimum, deciles...,
    above the maximum, missing]``.

    Deciles of the training range, with below-the-minimum, above-the-maximum and missing apart: values
    out of the training range are a group of their own, not part of an edge decile.
    """
    ref_present, ref_missing, _, _ = numeric_parts(profile["counts"])
    cur_present, cur_missing, _, _ = numeric_parts(current)
    ref, cur = np.asarray(ref_present, dtype=float), np.asarray(cur_present, dtype=float)
    groups = decile_groups(ref[1:-1].tolist())
    ref_deciles = np.bincount(groups, weights=ref[1:-1], minlength=DECILES)
    cur_deciles = np.bincount(groups, weights=cur[1:-1], minlength=DECILES)
    return (
        np.array([ref[0], *ref_deciles, ref[-1], ref_missing]),
        np.array([cur[0], *cur_deciles, cur[-1], cur_missing]),
    )


def psi_score(profile: dict[str, Any], current: list[float]) -> float:
    """The PSI of a numeric feature over :func:`psi_groups`."""
    return psi(*psi_groups(profile, current))


def ks_score(profile: dict[str, Any], current: list[float]) -> float:
    """The largest gap between the reference's and ``current``'s binned CDFs."""
    gap = cdf_gaps(numeric_parts(profile["counts"])[0], numeric_parts(current)[0])
    return float(gap.max()) if gap.size else 0.0


def wasserstein_score(profile: dict[str, Any], current: list[float]) -> float:
    """The earth mover's distance between the binned distributions, over the reference's standard
    deviation (the distance itself when it has none)."""
    ref_present, _, ref_below, ref_above = numeric_parts(profile["counts"])
    cur_present, _, cur_below, cur_above = numeric_parts(current)
    ref, cur = np.asarray(ref_present, dtype=float), np.asarray(cur_present, dtype=float)
    gap = cdf_gaps(ref, cur)
    points = support(profile)
    distance = float(np.sum(gap[:-1] * np.diff(points)))
    # Beyond the training range the CDF gap is the mean distance past the minimum or maximum.
    for ref_sum, cur_sum in ((ref_below, cur_below), (ref_above, cur_above)):
        distance += abs(cur_sum / max(cur.sum(), 1) - ref_sum / max(ref.sum(), 1))
    std = profile.get("std") or 0.0
    return float(distance / std if std > 0 else distance)


def jensen_shannon_score(profile: dict[str, Any], current: list[float]) -> float:
    """The Jensen-Shannon distance of a categorical column's counts."""
    return jensen_shannon(profile["counts"], current)


def cdf_gaps(reference_present: Any, current_present: Any) -> np.ndarray:
    """``|F_ref - F_cur|`` at the end of each entry ``[under, bins..., over]`` of the present values."""
    return np.abs(np.cumsum(shares(reference_present)) - np.cumsum(shares(current_present)))


def support(profile: dict[str, Any]) -> np.ndarray:
    """A representative value per entry ``[under, bins..., over]``: the range ends and bin midpoints."""
    low, high = profile["low"], profile["high"]
    if low is None:
        return np.zeros(2)
    bounds = np.concatenate([[low], profile["edges"], [high]])
    midpoints = (bounds[:-1] + bounds[1:]) / 2
    return np.concatenate([[low], midpoints, [high]])
