"""How large each drift statistic grows from sampling alone: its distribution under "no drift".

A window of n live rows and the training profile's N rows are two samples;
even when both come from one distribution their statistics are not zero,
and on few rows or many categories they easily pass a fixed threshold (500
categories and 1,000 rows: a Jensen–Shannon distance of about 0.1). The
``drift`` step therefore calls a feature drifted only when its score passes
both the configured threshold (the smallest change worth an alert) and the
score that sampling alone exceeds with probability ``alpha`` at these n and
N. Every null here is analytical and costs the same for any n: it reads the
count vectors only, never raw rows.

- ``psi`` and ``jensenshannon`` are sums of one term per entry. Under the
  null the counts of an entry are Poisson with the pooled share (N and n
  times it), so each term's first three moments are exact sums over those
  two Poisson distributions (a normal quadrature once counts are large);
  that keeps sparse entries (a category seen twice) right, where the usual
  chi-square approximation is not. One chi-square degree of freedom is
  taken off for the fixed totals, and a shifted, scaled chi-square with
  those three moments is fitted (Pearson's type III). Values beyond the
  training range have no reference rows by construction; a new value falls
  there with probability 1 / (N + 1).
- ``wasserstein`` is a weighted sum of the absolute gaps between the two
  CDFs, which are jointly normal (a Brownian bridge on the bins); its exact
  mean and variance follow from E|X||Y| of two correlated normals, and a
  scaled chi-square with those two is fitted (Satterthwaite).
- ``ks`` is Kolmogorov's distribution at n N / (n + N) rows (Stephens'
  small-sample correction); binning only lowers the statistic, so this
  errs towards fewer alarms.

Chi-square tails use the Wilson–Hilferty cube root: ``status`` answers
without importing scipy (its import alone would double the command's
time). tests/unit/test_drift_null.py checks them against scipy, and the false
alarm rate of each null against simulated windows.
"""

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from easy_mlops.counts import numeric_parts
from easy_mlops.observability.drift import jensen_shannon_terms, psi_groups, psi_terms, support

EXACT_POISSON_MEAN = 40.0  # above it a count is a normal, on Gauss-Hermite nodes
HERMITE_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(21)
HERMITE_PROBABILITIES = _WEIGHTS / _WEIGHTS.sum()
STANDARD_NORMAL = NormalDist()


@dataclass(frozen=True)
class FittedChiSquare:
    """``statistic ** power`` as ``shift + scale * chi2(dof)``, fitted to its mean, variance and third
    central moment (Pearson's type III), or, without a third moment, to its mean and variance alone
    (Satterthwaite's scaled chi-square, no shift).

    The third moment matters where a few sparse entries make the statistic skewed: a category seen
    once in a small window moves it by a lot. ``power`` is 2 for the Jensen–Shannon distance: the
    moments are the divergence's, its square.
    """

    mean: float
    variance: float
    third: float = 0.0
    power: float = 1.0

    def p_value(self, score: float) -> float:
        """The chance of a score at least this high from sampling alone."""
        if self.mean <= 0 or self.variance <= 0:
            return 1.0 if score <= 0 else 0.0
        shift, scale, dof = self._fitted()
        standard = max(0.0, (score**self.power - shift) / scale / dof)
        h = 2 / (9 * dof)  # Wilson-Hilferty: the cube root of a chi-square over its dof is nearly normal
        return 0.5 * math.erfc((standard ** (1 / 3) - (1 - h)) / math.sqrt(2 * h))

    def critical(self, alpha: float) -> float:
        """The score that sampling alone exceeds with probability ``alpha``."""
        if self.mean <= 0 or self.variance <= 0:
            return 0.0
        shift, scale, dof = self._fitted()
        h = 2 / (9 * dof)
        cube_root = max(0.0, 1 - h + STANDARD_NORMAL.inv_cdf(1 - alpha) * math.sqrt(h))
        return max(0.0, shift + scale * dof * cube_root**3) ** (1 / self.power)

    def _fitted(self) -> tuple[float, float, float]:
        """``(shift, scale, dof)``."""
        if self.third > 0:
            scale = self.third / (4 * self.variance)
            dof = 8 * self.variance**3 / self.third**2
            return self.mean - scale * dof, scale, dof
        return 0.0, self.variance / (2 * self.mean), 2 * self.mean**2 / self.variance


@dataclass(frozen=True)
class Kolmogorov:
    """The two-sample Kolmogorov–Smirnov distance at ``rows`` = n N / (n + N) effective rows."""

    rows: float

    @property
    def _scale(self) -> float:
        root = math.sqrt(self.rows)
        return root + 0.12 + 0.11 / root  # Stephens (1970): good from a few rows on

    def p_value(self, score: float) -> float:
        x = self._scale * score
        if x < 0.3:  # 1 to ten digits, where the series would converge slowly
            return 1.0
        series = sum((-1) ** (k - 1) * math.exp(-2 * k * k * x * x) for k in range(1, 101))
        return min(1.0, max(0.0, 2 * series))

    def critical(self, alpha: float) -> float:
        # The series' first term alone: the rest moves the answer by under 0.1% wherever alpha <= 0.2.
        return math.sqrt(-math.log(min(alpha, 0.2) / 2) / 2) / self._scale


Null = FittedChiSquare | Kolmogorov


def jensen_shannon_null(profile: dict[str, Any], current: list[float]) -> Null | None:
    """The Jensen-Shannon distance's null: a fitted chi-square of the divergence, its square.

    Like every null here, None when either side has no value to compare (the
    statistic is then no sample of anything).
    """
    reference, window = np.asarray(profile["counts"], dtype=float), np.asarray(current, dtype=float)
    if not reference.sum() or not window.sum():
        return None
    return FittedChiSquare(*_summed_terms(jensen_shannon_terms, reference, window, 1 / 8), power=2)


def psi_null(profile: dict[str, Any], current: list[float]) -> Null | None:
    """The PSI's null over its groups (:func:`~easy_mlops.observability.drift.psi_groups`)."""
    reference, window = psi_groups(profile, current)
    if not reference.sum() or not window.sum():
        return None
    # Below the minimum and above the maximum (the first and last but one groups) no training row lies.
    beyond = (0, len(reference) - 2)
    return FittedChiSquare(*_summed_terms(psi_terms, reference, window, 1.0, beyond))


def ks_null(profile: dict[str, Any], current: list[float]) -> Null | None:
    """Kolmogorov's distribution at the two samples' effective rows."""
    present = _present(profile, current)
    if present is None:
        return None
    reference, window = present
    big_n, n = float(reference.sum()), float(window.sum())
    return Kolmogorov(big_n * n / (big_n + n))


def wasserstein_null(profile: dict[str, Any], current: list[float]) -> Null | None:
    """The binned Wasserstein distance's null: a scaled chi-square with its exact mean and variance."""
    present = _present(profile, current)
    if present is None:
        return None
    return FittedChiSquare(*_wasserstein_moments(profile, *present))


def _present(profile: dict[str, Any], current: list[float]) -> tuple[np.ndarray, np.ndarray] | None:
    """The counts of present values ``[under, bins..., over]`` on both sides; None if a side has none."""
    reference = np.asarray(numeric_parts(profile["counts"])[0], dtype=float)
    window = np.asarray(numeric_parts(current)[0], dtype=float)
    if not reference.sum() or not window.sum():
        return None
    return reference, window


def _summed_terms(
    terms: Any, reference: np.ndarray, window: np.ndarray, quadratic: float, beyond: tuple[int, ...] = ()
) -> tuple[float, float, float]:
    """Mean, variance and third central moment of ``sum(terms(X / N, Y / n))``, the counts of each entry
    independent Poissons (moments of independent terms add up: these three do).

    ``quadratic`` is the statistic's factor on ``(q - p)**2 / share`` for small gaps (1/8 for the
    divergence, 1 for PSI): one such chi-square degree of freedom is taken off for the fixed totals.
    Entries in ``beyond`` have no reference rows; the window's come with probability 1 / (N + 1) each.
    """
    big_n, n = float(reference.sum()), float(window.sum())
    pooled = (reference + window) / (big_n + n)
    fixed = np.isin(np.arange(len(pooled)), beyond) & (reference == 0)
    used = fixed | (pooled > 0)
    ref_counts, ref_weights = _poisson_table(np.where(fixed, 0.0, big_n * pooled)[used])
    cur_counts, cur_weights = _poisson_table(np.where(fixed, n / (big_n + 1), n * pooled)[used])
    # entries x reference counts x window counts
    values = terms(ref_counts[:, :, None] / big_n, cur_counts[:, None, :] / n)
    weights = ref_weights[:, :, None] * cur_weights[:, None, :]
    means = np.sum(weights * values, axis=(1, 2))
    centred = values - means[:, None, None]
    variance, third = float(np.sum(weights * centred**2)), float(np.sum(weights * centred**3))
    fixed_total = quadratic * (1 / big_n + 1 / n)
    return float(means.sum()) - fixed_total, variance - 2 * fixed_total**2, third - 8 * fixed_total**3


def _poisson_table(means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per mean, a row of counts and their probabilities (rows padded with zero probabilities)."""
    rows = [_poisson(float(mean)) for mean in means]
    width = max((len(counts) for counts, _ in rows), default=1)
    counts, weights = np.zeros((len(rows), width)), np.zeros((len(rows), width))
    for row, (row_counts, row_weights) in enumerate(rows):
        counts[row, : len(row_counts)], weights[row, : len(row_weights)] = row_counts, row_weights
    return counts, weights


def _poisson(mean: float) -> tuple[np.ndarray, np.ndarray]:
    """Counts and their probabilities: Poisson's own up to ``EXACT_POISSON_MEAN``, a normal's above."""
    if mean > EXACT_POISSON_MEAN:
        return np.maximum(mean + math.sqrt(mean) * HERMITE_NODES, 0.0), HERMITE_PROBABILITIES
    if mean <= 0:
        return np.zeros(1), np.ones(1)
    counts = np.arange(math.ceil(mean + 10 * math.sqrt(mean) + 10) + 1)
    log_factorials = np.concatenate([[0.0], np.cumsum(np.log(counts[1:]))])
    weights = np.exp(counts * math.log(mean) - mean - log_factorials)
    return counts.astype(float), weights / weights.sum()


def _wasserstein_moments(
    profile: dict[str, Any], reference: np.ndarray, window: np.ndarray
) -> tuple[float, float]:
    """Mean and variance of the binned Wasserstein distance (normalised as the score is) under the null.

    The CDF gaps at the bins' ends are normal with covariance ``(1/N + 1/n) (min(F_i, F_j) - F_i F_j)``;
    the score sums their absolute values times the distance to the next point. The out-of-range part
    of the score (a value beyond the training range has probability 2 / (N + 1)) is left out.
    """
    big_n, n = float(reference.sum()), float(window.sum())
    cdf = np.clip(np.cumsum((reference + window) / (big_n + n))[:-1], 0.0, 1.0)
    std = profile.get("std") or 0.0
    weights = np.diff(support(profile)) / (std if std > 0 else 1.0)
    spread = 1 / big_n + 1 / n
    sd = np.sqrt(spread * cdf * (1 - cdf))
    covariance = spread * (np.minimum.outer(cdf, cdf) - np.outer(cdf, cdf))
    sds = np.outer(sd, sd)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.clip(np.where(sds > 0, covariance / sds, 0.0), -1.0, 1.0)
    # E|X||Y| for normals with correlation rho, less E|X| E|Y|.
    covariance_of_absolutes = 2 / np.pi * sds * (np.sqrt(1 - rho**2) + rho * np.arcsin(rho) - 1)
    mean = float(math.sqrt(2 / math.pi) * weights @ sd)
    return mean, float(weights @ covariance_of_absolutes @ weights)
