"""Clocks: the only place time comes from. Policies never read the time themselves.

SimPy's lesson (``rt.py``): real time is the simulated kernel with a different way to
advance; model code is the same under both.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_s(self) -> float: ...


class SimClock:
    """Time jumps from event to event; the simulator sets it."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = start_s

    def now_s(self) -> float:
        return self._now

    def advance_to(self, t_s: float) -> None:
        if t_s < self._now:
            raise ValueError(f"time cannot go back from {self._now} to {t_s}")
        self._now = t_s


class WallClock:
    """Seconds since ``origin`` on the machine's monotonic clock, times ``speedup``."""

    def __init__(self, speedup: float = 1.0) -> None:
        self._t0 = time.monotonic()
        self._speedup = speedup

    def now_s(self) -> float:
        return (time.monotonic() - self._t0) * self._speedup
