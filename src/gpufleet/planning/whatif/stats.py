"""Paired differences over seeds with a Student-t 95% confidence interval.

For seeds i = 1..n, d_i = variant_i - base_i (the same seed drives both, so workload noise
cancels). mean = sum d_i / n; s = sample standard deviation; the interval is
mean +- t(0.975, n-1) s / sqrt(n). A difference is *within noise* when the interval holds 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

# t(0.975, df) for df = 1..30 (any statistics table)
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t975(df: int) -> float:
    if df < 1:
        return math.inf
    if df <= 30:
        return _T975[df - 1]
    return 2.000 if df <= 60 else 1.980 if df <= 120 else 1.960


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
