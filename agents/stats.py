"""Fitness statistics: a seeded percentile bootstrap interval over per-problem scores.

The resampling replicates `scipy.stats.bootstrap(..., method="percentile")` draw for draw
(`rng.integers(0, n, (n_resamples, n))` from `numpy.random.default_rng(seed)`, then linear
quantiles at alpha and 1 - alpha, in scipy's arithmetic), so the numbers equal scipy's on the
same data and seed, without importing scipy at run time. Every interval records its seed, n
and n_resamples.
"""
from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
from pydantic import BaseModel

Statistic = Literal["median", "mean"]

# Resample in row blocks so memory stays bounded for large n; a 64-bit bounded integer draw
# consumes the generator stream the same way whatever the block shape, so results are unchanged.
_MAX_ELEMENTS = 4_000_000


class Interval(BaseModel):
    """A point estimate with its bootstrap interval and everything needed to reproduce it."""

    value: float
    low: float
    high: float
    n: int
    seed: int
    n_resamples: int
    confidence: float = 0.95
    statistic: Statistic = "median"


def _stat(a: np.ndarray, statistic: Statistic, axis: int = -1) -> np.ndarray:
    return np.median(a, axis=axis) if statistic == "median" else np.mean(a, axis=axis)


def bootstrap_ci(
    scores: Sequence[float],
    seed: int,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    statistic: Statistic = "median",
) -> tuple[float, float, float]:
    """(statistic, low, high) of `scores`: the percentile-bootstrap interval.

    With fewer than two scores there is nothing to resample: the interval collapses to the
    value (an empty list gives 0.0 everywhere) rather than raising like scipy does.
    """
    data = np.asarray(scores, dtype=float)
    if data.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got shape {data.shape}")
    if statistic not in ("median", "mean"):
        raise ValueError(f"statistic must be 'median' or 'mean', not {statistic!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
    n = data.size
    if n == 0:
        return 0.0, 0.0, 0.0
    value = float(_stat(data, statistic))
    if n == 1:
        return value, value, value
    theta = bootstrap_distribution(data, seed, n_resamples, statistic)
    alpha = (1 - confidence) / 2
    return value, _linear_quantile(theta, alpha), _linear_quantile(theta, 1 - alpha)


def bootstrap_distribution(scores: Sequence[float] | np.ndarray, seed: int,
                           n_resamples: int = 10_000,
                           statistic: Statistic = "median") -> np.ndarray:
    """The sorted statistic of each of `n_resamples` resamples (scipy's draw order)."""
    data = np.asarray(scores, dtype=float)
    n = data.size
    rng = np.random.default_rng(seed)
    rows = max(1, _MAX_ELEMENTS // max(n, 1))
    dist = []
    for start in range(0, n_resamples, rows):
        count = min(rows, n_resamples - start)
        idx = rng.integers(0, n, (count, n))
        dist.append(_stat(data[idx], statistic))
    theta = np.concatenate(dist)
    theta.sort()
    return theta


def fitness_ci(scores: Sequence[float], seed: int, n_resamples: int = 10_000,
               confidence: float = 0.95) -> tuple[float, float, float]:
    """ADAS's fitness: (median of the bootstrap means, low, high), the interval being the
    percentile interval of the mean (= scipy's on the same seed). Per-problem scores are often
    0/1, where the plain median of the scores says nothing; this median is ~ the accuracy."""
    data = np.asarray(scores, dtype=float)
    if data.size < 2:
        v = float(data.mean()) if data.size else 0.0
        return v, v, v
    theta = bootstrap_distribution(data, seed, n_resamples, "mean")
    alpha = (1 - confidence) / 2
    return (_linear_quantile(theta, 0.5), _linear_quantile(theta, alpha),
            _linear_quantile(theta, 1 - alpha))


def _linear_quantile(ordered: np.ndarray, p: float) -> float:
    """Hyndman-Fan type 7 quantile written as scipy.stats.quantile writes it (numpy's
    np.quantile lerps differently and can differ from scipy in the last bit)."""
    n = ordered.size
    jg = p * n + (1 - p)
    j = jg // 1 - 1
    g = 0.0 if j < 0 else jg % 1
    lo = int(min(max(j, 0), n - 1))
    hi = int(min(max(j + 1, 0), n - 1))
    return float((1 - g) * ordered[lo] + g * ordered[hi])


def interval(
    scores: Sequence[float],
    seed: int,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    statistic: Statistic = "median",
) -> Interval:
    """`bootstrap_ci` as a record that says how it was computed."""
    value, low, high = bootstrap_ci(scores, seed, n_resamples, confidence, statistic)
    return Interval(value=value, low=low, high=high, n=len(scores), seed=seed,
                    n_resamples=n_resamples, confidence=confidence, statistic=statistic)
