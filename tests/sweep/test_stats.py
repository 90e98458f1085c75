"""trainer/sweep/stats.py against scipy's own tests and intervals, and the textbook formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from trainer.sweep import stats


def test_t_interval_is_scipys_t_interval_of_the_mean():
    values = [0.91, 0.93, 0.92, 0.95, 0.90]
    got = stats.t_interval(values)
    mean, sem = np.mean(values), scipy_stats.sem(values)
    low, high = scipy_stats.t.interval(0.95, len(values) - 1, loc=mean, scale=sem)
    assert (got.mean, got.low, got.high, got.n) == pytest.approx((mean, low, high, 5))
    assert got.std == pytest.approx(np.std(values, ddof=1))
    # the textbook form: mean +- t_{0.975, n-1} * s / sqrt(n)
    assert got.high - got.mean == pytest.approx(scipy_stats.t.ppf(0.975, 4) * np.std(values, ddof=1) / math.sqrt(5))


def test_t_interval_edge_cases():
    assert stats.t_interval([]).n == 0
    one = stats.t_interval([0.5, math.nan])
    assert one.n == 1 and one.mean == 0.5 and math.isnan(one.low)
    same = stats.t_interval([0.7, 0.7, 0.7])
    assert (same.low, same.high, same.std) == (0.7, 0.7, 0.0)


def test_paired_is_scipys_paired_t_test_over_common_seeds():
    best = {0: 0.95, 1: 0.96, 2: 0.94, 3: 0.97, 4: 0.95}
    other = {0: 0.93, 1: 0.95, 2: 0.91, 3: 0.96, 4: 0.92, 5: 0.99}  # seed 5 has no partner
    got = stats.paired(best, other)
    a, b = [other[s] for s in range(5)], [best[s] for s in range(5)]
    reference = scipy_stats.ttest_rel(a, b)
    ci = reference.confidence_interval(0.95)
    assert got.n == 5
    assert got.p == pytest.approx(reference.pvalue)
    assert (got.low, got.high) == pytest.approx((ci.low, ci.high))
    assert got.difference == pytest.approx(np.mean(np.subtract(a, b)))


def test_paired_without_noise_or_partners():
    assert math.isnan(stats.paired({0: 1.0, 1: 2.0}, {0: 0.5, 1: 1.5}).p)  # the same difference on every seed
    assert stats.paired({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0}).p == 1.0
    assert math.isnan(stats.paired({0: 1.0}, {1: 1.0}).p)


def test_holm_matches_the_step_down_definition():
    p = [0.01, 0.04, 0.03, 0.005, math.nan]
    got = stats.holm(p)
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, max(., 2*0.03), max(., 1*0.04)
    assert got[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(got[4])
    assert stats.holm([0.6, 0.9]) == pytest.approx([1.0, 1.0])


def test_power_matches_a_simulation_and_seeds_needed_is_the_smallest_n():
    rng = np.random.default_rng(0)
    difference, std, n = 0.01, 0.01, 8
    samples = rng.normal(difference, std, size=(20000, n))
    simulated = np.mean(scipy_stats.ttest_1samp(samples, 0.0, axis=1).pvalue < 0.05)
    assert stats.power(n, difference, std) == pytest.approx(simulated, abs=0.015)
    needed = stats.seeds_needed(difference, std)
    assert stats.power(needed, difference, std) >= 0.8 > stats.power(needed - 1, difference, std)
    assert stats.seeds_needed(0.0, 0.01) > 1000


def test_pareto_front_keeps_what_nothing_beats_on_both():
    points = [(0.95, 0.05), (0.96, 0.08), (0.94, 0.04), (0.93, 0.09), (0.96, 0.08)]
    assert stats.pareto_front(points) == [True, True, True, False, True]
