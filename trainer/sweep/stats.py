"""The statistics of a comparison across seeds, from scipy.

- ``t_interval``: mean, sample std and the 95% Student-t confidence interval of one configuration's
  final metric over its seeds. A t-interval, not a bootstrap one: with 3 to 10 seeds a bootstrap
  resamples so few distinct values that its interval is too narrow (it cannot be wider than the
  range of the seeds), while the t-interval is exact for normal seed-to-seed noise and robust enough
  for the near-symmetric spread of final metrics.
- ``paired``: a configuration against the best one, paired by seed (the runs of one seed share the
  data split, the initialisation seed and the batch order in ``experiment=compare_<task>``):
  Student's paired t-test (``scipy.stats.ttest_rel``) and the t-interval of the mean difference. A
  paired t-test rather than Wilcoxon's signed-rank test: with n <= 5 pairs the signed-rank test can
  never reach p < 0.05 (its smallest two-sided p is 2 / 2^n = 0.0625 at n = 5).
- ``holm``: Holm's step-down correction of the p-values of the comparisons with the best (scipy
  offers Benjamini-Hochberg, not Holm; Holm controls the family-wise error, the right guarantee for
  "not distinguishable from the best").
- ``seeds_needed``: the smallest number of seeds at which the paired t-test would detect the
  observed mean difference at the observed spread of differences with 80% power (the noncentral t
  distribution, ``scipy.stats.nct``).
- ``pareto_front``: the configurations no other beats on both the main metric and calibration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 0.05


@dataclass(frozen=True)
class Interval:
    mean: float
    std: float
    low: float
    high: float
    n: int


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean, sample std and the Student-t interval of ``values`` (NaNs left out; n < 2: no interval)."""
    finite = np.array([v for v in values if isinstance(v, int | float) and math.isfinite(v)], dtype=np.float64)
    n = len(finite)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(finite.mean())
    if n == 1:
        return Interval(mean, 0.0, math.nan, math.nan, 1)
    if finite.min() == finite.max():  # no spread (std would be rounding noise)
        return Interval(float(finite[0]), 0.0, float(finite[0]), float(finite[0]), n)
    std = float(finite.std(ddof=1))
    low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=std / math.sqrt(n))
    return Interval(mean, std, float(low), float(high), n)


@dataclass(frozen=True)
class Paired:
    """``other - best`` over the seeds both have."""

    difference: float
    low: float
    high: float
    p: float
    n: int
    std: float  # of the per-seed differences


def paired(best: Mapping[int, float], other: Mapping[int, float], confidence: float = CONFIDENCE) -> Paired:
    """Paired t-test of ``other`` against ``best`` over their common seeds (seed -> value)."""
    seeds = sorted(s for s in set(best) & set(other) if math.isfinite(best[s]) and math.isfinite(other[s]))
    a = np.array([other[s] for s in seeds], dtype=np.float64)
    b = np.array([best[s] for s in seeds], dtype=np.float64)
    n = len(seeds)
    if n == 0:
        return Paired(math.nan, math.nan, math.nan, math.nan, 0, math.nan)
    differences = a - b
    mean = float(differences.mean())
    if n < 2:
        return Paired(mean, math.nan, math.nan, math.nan, n, math.nan)
    if np.ptp(differences) == 0:  # the same difference on every seed: no spread to test against
        return Paired(mean, mean, mean, 1.0 if mean == 0 else math.nan, n, 0.0)
    std = float(differences.std(ddof=1))
    result = stats.ttest_rel(a, b)
    ci = result.confidence_interval(confidence)
    return Paired(mean, float(ci.low), float(ci.high), float(result.pvalue), n, std)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (NaNs stay NaN and do not count as comparisons)."""
    indexed = sorted((p, i) for i, p in enumerate(pvalues) if math.isfinite(p))
    m = len(indexed)
    adjusted = [math.nan] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))  # step-down: never below an earlier one
        adjusted[i] = running
    return adjusted


def power(n: int, difference: float, std: float, alpha: float = ALPHA) -> float:
    """The two-sided paired t-test's power with n pairs for a true mean difference at this spread."""
    if n < 2 or std <= 0:
        return math.nan
    df = n - 1
    critical = stats.t.ppf(1 - alpha / 2, df)
    shift = abs(difference) / (std / math.sqrt(n))
    return float(stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift))


def seeds_needed(difference: float, std: float, target: float = 0.8, alpha: float = ALPHA, most: int = 1000) -> int:
    """Seeds needed to detect ``difference`` at this spread of differences with ``target`` power
    (``most`` + 1 when even ``most`` are not enough, e.g. a zero difference)."""
    if not (math.isfinite(difference) and math.isfinite(std)) or difference == 0:
        return most + 1
    if std == 0:
        return 2
    for n in range(2, most + 1):
        if power(n, difference, std, alpha) >= target:
            return n
    return most + 1


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For (main metric, higher better; ECE, lower better) points: whether each is on the front."""
    on_front = []
    for i, (metric, ece) in enumerate(points):
        beaten = any(
            (m >= metric and e <= ece) and (m > metric or e < ece)
            for j, (m, e) in enumerate(points)
            if j != i and math.isfinite(m) and math.isfinite(e)
        )
        on_front.append(math.isfinite(metric) and math.isfinite(ece) and not beaten)
    return on_front
