"""Paired differences over seeds with a Student-t 95% confidence interval.

For seeds i = 1..n, d_i = variant_i - base_i (the same seed drives both, so workload noise
cancels). mean = sum d_i / n; s = sample standard deviation; the interval is
mean +- t(0.975, n-1) s / sqrt(n). A difference is *within noise* when the interval holds 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypedDict


def t975(df: int) -> float:
    """Student's t 0.975 quantile with ``df`` degrees of freedom (inf below 1 df)."""
    return t_quantile(0.975, df) if df >= 1 else math.inf


@lru_cache(maxsize=512)
def t_quantile(p: float, df: int) -> float:
    """The exact Student-t quantile: the t with P(T <= t) = p for ``df`` degrees of freedom.

    :func:`t_cdf` rises with t; so double an upper bound until it passes p, then bisect
    [0, bound] until the interval cannot shrink (about 60 halvings: the float's precision).
    A table replaced here stepped from df 30 to 2.000 and so made the intervals 1-2% too
    narrow above 31 seeds.
    """
    if not 0.0 < p < 1.0 or df < 1:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df >= 1, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    while True:
        mid = (lo + hi) / 2.0
        if mid in (lo, hi):
            return lo if p - t_cdf(lo, df) <= t_cdf(hi, df) - p else hi
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid


def t_cdf(t: float, df: int) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom.

    With x = df / (df + t^2) and y = t^2 / (df + t^2) = 1 - x (both formed directly, so
    neither loses digits as the other nears 1): P(|T| > |t|) = I_x(df/2, 1/2) (Abramowitz &
    Stegun 26.7.1 with 26.5.27), and the halves are symmetric about 0.
    """
    t2 = t * t
    two_tails = _inc_beta(df / (df + t2), t2 / (df + t2), df / 2.0, 0.5)
    return 1.0 - two_tails / 2.0 if t >= 0 else two_tails / 2.0


def _inc_beta(x: float, y: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b), with y = 1 - x given by the
    caller, by its continued fraction (A&S 26.5.8) on the side of the symmetry
    I_x(a, b) = 1 - I_y(b, a) where the fraction converges fast."""
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - _inc_beta(y, x, b, a)
    log_front = (
        a * math.log(x) + b * math.log(y) + math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    )
    return math.exp(log_front) / a * _beta_fraction(x, a, b)


def _beta_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction 1 / (1 + d_1 / (1 + d_2 / (1 + ...))) of A&S 26.5.8, by the
    modified Lentz method (numerators 1, d_1, d_2, ...; every denominator 1)."""
    tiny = 1e-300
    f, c, d = tiny, tiny, 0.0
    for j in range(1, 2000):
        numerator = 1.0 if j == 1 else _beta_coeff(j - 1, x, a, b)
        d = 1.0 + numerator * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + numerator / c
        c = c if abs(c) > tiny else tiny
        delta = c * d
        f *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return f


def _beta_coeff(m: int, x: float, a: float, b: float) -> float:
    """d_m of A&S 26.5.8: d_{2k+1} = -(a+k)(a+b+k) x / ((a+2k)(a+2k+1)) and
    d_{2k} = k (b-k) x / ((a+2k-1)(a+2k))."""
    k = m // 2
    if m % 2:
        return -(a + k) * (a + b + k) * x / ((a + 2 * k) * (a + 2 * k + 1))
    return k * (b - k) * x / ((a + 2 * k - 1) * (a + 2 * k))


class EstimateJson(TypedDict):
    """An :class:`Estimate` as JSON: rounded to 4 decimals; no interval (None) from one seed."""

    mean: float
    ci95_low: float | None
    ci95_high: float | None
    n: int
    within_noise: bool


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int

    @property
    def within_noise(self) -> bool:
        """True when the interval holds 0 (or there are too few seeds to tell)."""
        return self.n < 2 or self.low <= 0.0 <= self.high

    def as_dict(self) -> EstimateJson:
        finite = math.isfinite(self.low)
        return {
            "mean": round(self.mean, 4),
            "ci95_low": round(self.low, 4) if finite else None,
            "ci95_high": round(self.high, 4) if finite else None,
            "n": self.n,
            "within_noise": self.within_noise,
        }


def paired(base: Sequence[float], variant: Sequence[float]) -> Estimate:
    d = [v - b for b, v in zip(base, variant, strict=True)]
    return estimate(d)


def estimate(xs: Sequence[float]) -> Estimate:
    n = len(xs)
    if n == 0:
        return Estimate(math.nan, -math.inf, math.inf, 0)
    mean = sum(xs) / n
    if n == 1:
        return Estimate(mean, -math.inf, math.inf, 1)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t975(n - 1) * sd / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, n)
