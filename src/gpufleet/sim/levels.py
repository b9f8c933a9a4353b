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
                _spread(self.buckets, self.bucket_s, self.last_t, t, v)
        self.last_t = t

    def add(self, t: float, delta: float) -> None:
        t0 = self.last_t
        dt = t - t0
        if dt > 0:  # advance() and _spread's common case, inlined: this runs twice per job
            v = self.value
            if v:
                self.total += v * dt
                b = self.buckets
                if b is not None:
                    size = self.bucket_s
                    i = int(t0 // size)
                    if t <= (i + 1) * size and i < len(b):
                        b[i] += v * (t - t0)
                    else:
                        _spread(b, size, t0, t, v)
            self.last_t = t
        self.value += delta

    def set(self, t: float, value: float) -> None:
        self.advance(t)
        self.value = value

    def series(self) -> list[float]:
        """Mean level per bucket."""
        if self.buckets is None:
            return []
        return [x / self.bucket_s for x in self.buckets]


class ProgramMeter:
    """A program's GPUs in use and work rate, integrated together (they change at the
    same instants): received GPU-seconds, work done in reference GPU-seconds (also per
    bucket, for plots of cumulative work), and the instant work done first reached the
    milestone target. One integration per change serves all three: the buckets take the
    same ``rate * dt`` as the total (split where a change spans buckets)."""

    __slots__ = (
        "bucket_s",
        "buckets",
        "last_t",
        "rate",
        "reached_t",
        "target",
        "used",
        "used_total",
        "work_total",
    )

    def __init__(
        self, target: float | None, bucket_s: float = 86_400.0, n_buckets: int = 1
    ) -> None:
        self.last_t = 0.0
        self.used = 0.0
        self.rate = 0.0
        self.used_total = 0.0
        self.work_total = 0.0
        self.target = target
        self.reached_t: float | None = None
        self.bucket_s = bucket_s
        # work done per bucket, reference GPU-seconds (a Level's buckets, with rate as value)
        self.buckets: array[float] | None = array("d", bytes(8 * n_buckets)) if n_buckets else None

    def change(self, t: float, d_used: float, d_rate: float) -> None:
        t0 = self.last_t
        dt = t - t0
        if dt > 0:
            rate = self.rate
            if rate:
                if self.reached_t is None and self.target is not None:
                    need = self.target - self.work_total
                    if need <= rate * dt:
                        self.reached_t = t0 + max(0.0, need) / rate
                self.work_total += rate * dt
                self.used_total += self.used * dt
                b = self.buckets
                if b is not None:
                    size = self.bucket_s
                    i = int(t0 // size)
                    if t <= (i + 1) * size and i < len(b):
                        b[i] += rate * (t - t0)
                    else:
                        _spread(b, size, t0, t, rate)
            self.last_t = t
        self.used += d_used
        self.rate += d_rate

    def lose(self, amount: float, t: float) -> None:
        self.work_total -= amount
        b = self.buckets
        if b is not None:
            b[min(len(b) - 1, int(t // self.bucket_s))] -= amount

    def cumulative_work(self) -> list[float]:
        """Work done by the end of each bucket, reference GPU-seconds."""
        out, acc = [], 0.0
        for x in self.buckets or []:
            acc += x
            out.append(acc)
        return out


def _spread(b: array[float], size: float, t0: float, t1: float, v: float) -> None:
    """Add level ``v`` held from ``t0`` to ``t1`` to buckets of ``size`` seconds."""
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
