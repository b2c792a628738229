"""The report's arithmetic against published worked values (SPEC §7)."""

from __future__ import annotations

import math

import pytest

from screening.reports.statistics import (
    Z998,
    ci95,
    compare,
    funnel_limits,
    mean_interval,
    median_of,
    percent,
    publish,
    round_half_up,
    t_critical,
    wilson,
)


@pytest.mark.parametrize(
    ("x", "n", "lo", "hi"),
    [
        # Newcombe, "Two-sided confidence intervals for the single proportion: comparison of
        # seven methods", Stat Med 1998;17:857-872, Table I, method 3 (Wilson score).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_intervals_match_newcombes_worked_examples(
    x: int, n: int, lo: float, hi: float
) -> None:
    low, high = wilson(x, n)
    assert (round(low, 4), round(high, 4)) == (lo, hi)


def test_ci95_is_a_pair_of_percentages_to_one_decimal_and_null_without_a_denominator() -> None:
    assert ci95(81, 263) == [25.5, 36.6]
    assert ci95(0, 0) is None
    assert ci95(None, 20) is None


def test_funnel_limits_are_wilson_limits_around_the_expected_count() -> None:
    # The Fingertips formula is Wilson's interval of n*p0 out of n at z = 3.0902.
    for n, p0 in ((10, 0.2), (150, 0.227), (1000, 0.5)):
        assert funnel_limits(n, p0) == pytest.approx(wilson(n * p0, n, Z998))
    lo, hi = funnel_limits(100, 0.5)
    assert (round(lo, 4), round(hi, 4)) == (0.3524, 0.6476)


def test_a_group_is_higher_or_lower_only_strictly_outside_the_limits() -> None:
    assert compare(10, 100, 0.227) == "lower"  # 10% against 22.7%: limits about 12.5-37.7%
    assert compare(20, 100, 0.227) == "similar"
    assert compare(45, 100, 0.227) == "higher"
    assert compare(0, 10, 0.0) == "similar"  # p0 of 0 or 1 never marks a group
    assert compare(10, 10, 1.0) == "similar"
    assert compare(None, 10, 0.5) is None and compare(3, 0, 0.5) is None


def test_disclosure_control_suppresses_one_to_seven_and_rounds_the_rest_to_fives() -> None:
    assert [publish(n) for n in (0, 1, 7, 8, 12, 13)] == [0, None, None, 10, 10, 15]
    assert [publish(n) for n in (17, 18, 22, 23, 1000)] == [15, 20, 20, 25, 1000]


def test_percentages_round_half_up_and_are_null_without_a_denominator() -> None:
    assert round_half_up(12.25) == 12.3 and round_half_up(0.05) == 0.1
    assert round_half_up(2.675, 2) == 2.68  # not 2.67, as float rounding gives
    assert percent(1, 8) == 12.5 and percent(2, 3) == 66.7
    assert percent(5, 0) is None and percent(None, 10) is None


def test_the_median_of_a_histogram() -> None:
    assert median_of({}) is None
    assert median_of({3: 1}) == 3
    assert median_of({1: 1, 2: 1, 5: 2}) == 3.5
    assert median_of({0: 5, 4: 1}) == 0


# NIST/SEMATECH e-Handbook of Statistical Methods, 1.3.6.7.2, "Critical values of the
# Student's t distribution", the column for a two-sided 95% interval (0.975).
NIST_T_975 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
    9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120,
    17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064,
    25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042, 40: 2.021, 50: 2.009,
    60: 2.000, 100: 1.984,
}  # fmt: skip


@pytest.mark.parametrize(("df", "published"), sorted(NIST_T_975.items()))
def test_t_critical_values_match_nists_table(df: int, published: float) -> None:
    assert round(t_critical(df), 3) == published


def test_t_critical_values_match_the_closed_forms_and_approach_z() -> None:
    # One degree of freedom is the Cauchy distribution: tan(π(0.975 − 0.5)); two have
    # t = (2p − 1) √(2 / (4p(1 − p))) with p = 0.975.
    assert t_critical(1) == pytest.approx(math.tan(0.475 * math.pi), abs=1e-9)
    assert t_critical(2) == pytest.approx(0.95 * math.sqrt(2 / 0.0975), abs=1e-9)
    assert t_critical(100_000) == pytest.approx(1.959964, abs=1e-4)


def test_the_t_interval_of_a_mean_difference_worked_by_hand() -> None:
    # Differences 2, 2, 0, 2, 1, 2, 1, 1: mean 1.375, s = √(3.875 / 7) = 0.744024,
    # s/√8 = 0.263052, t(7 df) = 2.364624: 1.375 ± 0.622019.
    lo, hi = mean_interval([2, 2, 0, 2, 1, 2, 1, 1])
    assert (round(lo, 6), round(hi, 6)) == (0.752981, 1.997019)
    assert mean_interval([1, 1, 1]) == (1.0, 1.0)  # no spread: the mean alone
