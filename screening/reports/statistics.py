"""The report's arithmetic (SPEC §7): rounding, Wilson intervals, funnel limits, disclosure.

Pure functions over counts, applied once to the aggregated rows: nothing here reads the
database. Written out rather than taken from a package: Wilson's interval and the
Fingertips funnel limits are one formula each, and the packages that carry them (PHE's
`phstatsmethods`) bring pandas and scipy for it. The tests check them against published
worked values.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from math import exp, lgamma, log, log1p, sqrt
from statistics import fmean, stdev
from typing import Literal

Z95 = 1.959964  # two-sided 95%
Z998 = 3.0902  # two-sided 99.8%: Public Health England's (Fingertips) outer funnel limit

# NHS England's rule for counts below national level: 1-7 suppressed, others to the nearest 5.
SUPPRESS_AT_MOST = 7
ROUND_TO = 5
DISCLOSURE_RULE = (
    "counts of 1 to 7 are suppressed ([c]) and other counts rounded to the nearest 5; "
    "percentages and intervals are worked from the published numbers"
)
INTERVAL_METHOD = (
    "95% Wilson score interval; groups outside the 99.8% Wilson funnel limits around the "
    "whole report's rate are marked higher or lower (Public Health England, Fingertips)"
)

Comparison = Literal["higher", "lower", "similar"]


def round_half_up(value: float, places: int = 1) -> float:
    """Half up, as people round (12.25 → 12.3), not half to even as `round` does."""
    step = Decimal(1).scaleb(-places)
    return float(Decimal(repr(value)).quantize(step, rounding=ROUND_HALF_UP))


def percent(part: int | None, whole: int | None) -> float | None:
    """0-100 to one decimal; None where either is unknown or the whole is 0."""
    if part is None or not whole:
        return None
    return round_half_up(100 * part / whole)


def publish(count: int) -> int | None:
    """A count as it may be published: 0 stays 0, 1-7 is suppressed (None), else nearest 5.

    Counts are whole numbers, so the nearest multiple of 5 is never a tie.
    """
    if count == 0:
        return 0
    if count <= SUPPRESS_AT_MOST:
        return None
    return ROUND_TO * round(count / ROUND_TO)


def wilson(x: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of x/n as proportions (n > 0)."""
    p = x / n
    centre = p + z * z / (2 * n)
    spread = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    return max(0.0, (centre - spread) / denominator), min(1.0, (centre + spread) / denominator)


def ci95(x: int | None, n: int | None) -> list[float] | None:
    """SPEC §7's `ci95`: the Wilson interval as [lo, hi] percentages to one decimal."""
    if x is None or not n:
        return None
    lo, hi = wilson(x, n)
    return [round_half_up(100 * lo), round_half_up(100 * hi)]


def funnel_limits(n: int, p0: float, z: float = Z998) -> tuple[float, float]:
    """Wilson funnel limits around p0 for a denominator n, as proportions:
    (2np0 + z² ± z·√(z² + 4np0(1−p0))) / (2(n + z²))."""
    root = z * sqrt(z * z + 4 * n * p0 * (1 - p0))
    denominator = 2 * (n + z * z)
    return (2 * n * p0 + z * z - root) / denominator, (2 * n * p0 + z * z + root) / denominator


def compare(x: int | None, n: int | None, p0: float | None) -> Comparison | None:
    """SPEC §7's `vs_all`: is x/n strictly outside the 99.8% limits around p0?"""
    if x is None or not n or p0 is None:
        return None
    if p0 <= 0 or p0 >= 1:
        return "similar"
    lo, hi = funnel_limits(n, p0)
    rate = x / n
    if rate > hi:
        return "higher"
    if rate < lo:
        return "lower"
    return "similar"


def median_of(histogram: dict[int, int]) -> float | None:
    """The median of values given as {value: how many}; the mean of the middle two when even."""
    total = sum(histogram.values())
    if total == 0:
        return None
    middle = ((total - 1) // 2, total // 2)
    found: list[int] = []
    seen = 0
    for value in sorted(histogram):
        count = histogram[value]
        for position in middle:
            if seen <= position < seen + count:
                found.append(value)
        seen += count
    return (found[0] + found[1]) / 2


# --- the mean of paired differences, with Student's t interval -----------------------------


def t_critical(df: int, confidence: float = 0.95) -> float:
    """Student's t critical value for a two-sided interval: the t with P(|T| > t) equal to
    1 - confidence on `df` degrees of freedom.

    Exact, without scipy: the two-sided tail of t is a regularised incomplete beta,
    P(|T| > t) = I_x(df/2, 1/2) with x = df / (df + t²) (Abramowitz and Stegun, Handbook of
    Mathematical Functions, 26.7.1 with 26.5.27), which falls as t grows, so bisection
    finds t to machine precision. The tests check it against the closed forms for 1 and 2
    degrees of freedom and NIST's table of critical values (e-Handbook of Statistical
    Methods, 1.3.6.7.2).
    """
    tail = 1 - confidence

    def beyond(t: float) -> float:
        return _incomplete_beta(df / 2, 0.5, df / (df + t * t))

    low, high = 0.0, 1.0
    while beyond(high) > tail:
        low, high = high, 2 * high
    for _ in range(200):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        low, high = (middle, high) if beyond(middle) > tail else (low, middle)
    return (low + high) / 2


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), by its continued fraction
    (Press et al., Numerical Recipes, 2nd ed., §6.4), on the side where it converges fast."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1 - front * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), by the modified Lentz method."""
    tiny = 1e-300

    def guarded(value: float) -> float:
        return tiny if abs(value) < tiny else value

    c, d = 1.0, 1 / guarded(1 - (a + b) * x / (a + 1))
    fraction = d
    for m in range(1, 500):
        even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        for term in (even, odd):
            d = 1 / guarded(1 + term * d)
            c = guarded(1 + term / c)
            fraction *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return fraction


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """The t interval of the mean of `values` (at least two): mean ± t · s / √n, with n − 1
    degrees of freedom (the paired t interval, when the values are differences)."""
    n = len(values)
    half = t_critical(n - 1, confidence) * stdev(values) / sqrt(n)
    mean = fmean(values)
    return mean - half, mean + half
