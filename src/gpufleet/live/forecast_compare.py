"""How close a forecast came to what the scheduler did: start-order agreement (Kendall's
tau-b) and start-time error, and the two naive orders a forecast must beat.

Kendall's tau-b (Kendall 1945, "The treatment of ties in ranking problems"), over the n
jobs both sides started, for predicted values x and actual values y::

    tau_b = (C - D) / sqrt((n0 - n1) * (n0 - n2))

with C the pairs ordered alike (``(x_i - x_j) * (y_i - y_j) > 0``), D those ordered
oppositely, ``n0 = n (n - 1) / 2``, ``n1`` the pairs tied in x and ``n2`` the pairs tied
in y (a pair tied in both counts in n1 and n2 and in neither C nor D). 1: the same order;
-1: reversed; ties are common here, since Slurm starts several jobs in the same second.

The naive orders (issue 18): **submit order** (submit time, then job id), and **accounts
by fair-share** (the account's fair-share factor as Slurm reports it, highest first, then
submit order).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Tau-b of two equally long value lists (formula in the module docstring); 1.0 when
    fewer than two items or every pair is tied on one side (no order to disagree on)."""
    if len(x) != len(y):
        raise ValueError(f"kendall_tau_b: {len(x)} predicted values against {len(y)} actual")
    n = len(x)
    concordant = discordant = tied_x = tied_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0:
                tied_x += 1
            if dy == 0:
                tied_y += 1
            if dx * dy > 0:
                concordant += 1
            elif dx * dy < 0:
                discordant += 1
    n0 = n * (n - 1) // 2
    denominator = math.sqrt((n0 - tied_x) * (n0 - tied_y))
    return 1.0 if denominator == 0 else (concordant - discordant) / denominator


def ranks(order: Sequence[int]) -> dict[int, float]:
    """Job id -> its position in ``order`` (0 first): an order as values for tau."""
    return {job: float(i) for i, job in enumerate(order)}


@dataclass(frozen=True)
class Agreement:
    """One order or forecast against the actual starts, over ``jobs`` jobs."""

    jobs: int
    tau: float
    median_error_s: float | None  # |predicted - actual| start, median; None: an order only
    p90_error_s: float | None


def agreement(
    predicted: Mapping[int, float], actual: Mapping[int, float], timed: bool
) -> Agreement:
    """Tau-b between ``predicted`` and ``actual`` (job id -> seconds, or a rank) over the
    jobs both hold; with ``timed``, the median and 90th percentile of the absolute error
    in seconds."""
    common = sorted(set(predicted) & set(actual))
    x = [predicted[j] for j in common]
    y = [actual[j] for j in common]
    tau = kendall_tau_b(x, y)
    if not timed or not common:
        return Agreement(len(common), tau, None, None)
    errors = sorted(abs(a - b) for a, b in zip(x, y, strict=True))
    p90 = errors[min(len(errors) - 1, math.ceil(0.9 * len(errors)) - 1)]
    return Agreement(len(common), tau, statistics.median(errors), p90)


@dataclass(frozen=True)
class Submitted:
    """A job as the naive orders see it."""

    job_id: int
    account: str
    submit: datetime


def submit_order(jobs: Sequence[Submitted]) -> list[int]:
    return [j.job_id for j in sorted(jobs, key=lambda j: (j.submit, j.job_id))]


def fairshare_order(jobs: Sequence[Submitted], factor: Mapping[str, float]) -> list[int]:
    """Accounts by ``factor`` (highest first; an account without one last), then submit
    order."""
    return [
        j.job_id
        for j in sorted(jobs, key=lambda j: (-factor.get(j.account, -1.0), j.submit, j.job_id))
    ]
