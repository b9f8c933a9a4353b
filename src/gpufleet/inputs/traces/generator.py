"""A seeded synthetic workload: Poisson arrivals, GPU counts and durations drawn from the
distributions a scenario gives. Draws are vectorized in chunks, so a million jobs cost
about a second; the same seed always yields the same jobs."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from gpufleet.domain.ids import GpuTypeName
from gpufleet.domain.jobs import JobDraft

_CHUNK = 8192
"""Jobs drawn at once: the draws' order (gaps, GPUs, durations per chunk) is the seed's
stream, so this size is part of what a seed means."""
_STEP = 1024
"""Drawn values turned into Python numbers at once: a whole chunk held three lists of
8,192 numbers per stream (about 0.8 MB a stream, 13 MB for a 16-program scenario)."""


@dataclass(frozen=True)
class Generator:
    """Jobs arriving at ``jobs_per_day`` on average between ``start_s`` and ``end_s``."""

    jobs_per_day: float
    gpu_choices: tuple[int, ...]
    gpu_weights: tuple[float, ...]
    # duration at reference speed, hours: lognormal (median, sigma) or choices
    duration_median_h: float | None
    duration_sigma: float
    duration_choices: tuple[float, ...]
    duration_weights: tuple[float, ...]
    duration_min_h: float | None
    duration_max_h: float | None
    start_s: float
    end_s: float
    gpu_types: tuple[GpuTypeName, ...]
    priority: int = 0
    preemptible: bool = True
    checkpoint_s: float | None = None
    name: str = ""
    time_limit_s: float | None = None
    restore_s: float = 0.0  # see JobSpec.restore_s

    def stream(self, seed: int) -> Iterator[JobDraft]:
        rng = np.random.default_rng(seed)
        mean_gap = 86_400.0 / self.jobs_per_day
        t = self.start_s
        gp = _normalized(self.gpu_weights, len(self.gpu_choices))
        dp = _normalized(self.duration_weights, len(self.duration_choices))
        limit, restore = self.time_limit_s, self.restore_s
        types, prio, pre, ckpt, name = (
            self.gpu_types,
            self.priority,
            self.preemptible,
            self.checkpoint_s,
            self.name,
        )
        while True:
            gaps = rng.exponential(mean_gap, _CHUNK)
            times = t + np.cumsum(gaps)
            gpus = rng.choice(np.asarray(self.gpu_choices), size=_CHUNK, p=gp)
            hours = self._durations(rng, dp)
            for lo in range(0, _CHUNK, _STEP):  # Python numbers for a step at a time
                hi = lo + _STEP
                for ts, g, h in zip(
                    times[lo:hi].tolist(), gpus[lo:hi].tolist(), hours[lo:hi].tolist(), strict=True
                ):
                    if ts >= self.end_s:
                        return
                    yield JobDraft(
                        ts, g, h * 3600.0, types, prio, pre, ckpt, name, limit, restore_s=restore
                    )
            t = float(times[-1])

    def _durations(self, rng: np.random.Generator, dp: np.ndarray | None) -> np.ndarray:
        if self.duration_median_h is not None:
            h = rng.lognormal(np.log(self.duration_median_h), self.duration_sigma, _CHUNK)
        else:
            h = rng.choice(np.asarray(self.duration_choices), size=_CHUNK, p=dp)
        if self.duration_min_h is not None or self.duration_max_h is not None:
            h = np.clip(h, self.duration_min_h or 0.0, self.duration_max_h or np.inf)
        return h


def _normalized(weights: Sequence[float], n: int) -> np.ndarray | None:
    """Choice probabilities; None (uniform) when no weights are given."""
    if not weights:
        return None
    w = np.asarray(weights, dtype=float)
    out: np.ndarray = w / w.sum()
    return out


@dataclass(frozen=True)
class FixedJobs:
    """Jobs listed one by one in the scenario (e.g. a pretraining run), already sorted."""

    drafts: tuple[JobDraft, ...]

    def stream(self, seed: int) -> Iterator[JobDraft]:
        return iter(self.drafts)


Source = Generator | FixedJobs


def merge_streams(sources: Sequence[Source], seed: int) -> Iterator[JobDraft]:
    """One program's sources merged in submit order; each source gets its own seed."""
    streams = []
    for i, s in enumerate(sources):
        sub = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        streams.append(s.stream(sub))
    return heapq.merge(*streams, key=_submit)


def _submit(d: JobDraft) -> float:
    return d.submit_s


@dataclass(frozen=True)
class ProgramWorkload:
    """A program's workload: its sources, merged in submit order for a seed. Callable as
    the scenario's workload factory, and scalable for what-if variants."""

    sources: tuple[Source, ...]

    def __call__(self, seed: int) -> Iterator[JobDraft]:
        return merge_streams(self.sources, seed)

    def scaled(self, factor: float) -> ProgramWorkload:
        """``factor`` times the load: generators arrive ``factor`` times as often; listed
        and trace jobs arrive ``factor`` times as close together (from time 0)."""
        out: list[Source] = []
        for s in self.sources:
            if isinstance(s, Generator):
                out.append(replace(s, jobs_per_day=s.jobs_per_day * factor))
            else:
                out.append(
                    FixedJobs(tuple(d._replace(submit_s=d.submit_s / factor) for d in s.drafts))
                )
        return ProgramWorkload(tuple(out))
