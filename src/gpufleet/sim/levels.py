"""Piecewise-constant levels integrated exactly over time.

A level (GPUs in use, GPUs stranded, ...) changes only at events; between them it is
constant, so its integral is exact and costs O(1) per change. Optional buckets keep the
integral per fixed interval (a day) for time series.
"""

from __future__ import annotations

from array import array


class Level:
    __slots__ = ("bucket_s", "buckets", "last_t", "total", "value")

    def __init__(self, bucket_s: float = 0.0, n_buckets: int = 0) -> None:
        self.value = 0.0
        self.last_t = 0.0
        self.total = 0.0
        self.bucket_s = bucket_s
        self.buckets: array[float] | None = array("d", bytes(8 * n_buckets)) if n_buckets else None

    def advance(self, t: float) -> None:
        dt = t - self.last_t
        if dt <= 0:
            return
        v = self.value
        if v:
            self.total += v * dt
            if self.buckets is not None:
                self._spread(self.last_t, t, v)
        self.last_t = t

    def add(self, t: float, delta: float) -> None:
        self.advance(t)
        self.value += delta

    def set(self, t: float, value: float) -> None:
        self.advance(t)
        self.value = value

    def _spread(self, t0: float, t1: float, v: float) -> None:
        b = self.buckets
        assert b is not None
        size = self.bucket_s
        i = int(t0 // size)
        if t1 <= (i + 1) * size and i < len(b):  # the common case: one bucket
            b[i] += v * (t1 - t0)
            return
        n = len(b)
        while t0 < t1 and i < n:
            end = min(t1, (i + 1) * size)
            b[i] += v * (end - t0)
            t0 = end
            i += 1

    def series(self) -> list[float]:
        """Mean level per bucket."""
        if self.buckets is None:
            return []
        return [x / self.bucket_s for x in self.buckets]


class WorkLevel(Level):
    """Work done (reference GPU-seconds) with a target: remembers when it first got there."""

    __slots__ = ("reached_t", "target")

    def __init__(self, target: float | None) -> None:
        super().__init__()
        self.target = target
        self.reached_t: float | None = None

    def advance(self, t: float) -> None:
        tg = self.target
        if tg is not None and self.reached_t is None and self.value > 0:
            need = tg - self.total
            if need <= self.value * (t - self.last_t):
                self.reached_t = self.last_t + max(0.0, need) / self.value
        super().advance(t)

    def lose(self, amount: float) -> None:
        self.total -= amount
