"""Weighted dominant-resource fair share across a cohort's programs."""

from __future__ import annotations

import heapq
from typing import ClassVar

from gpufleet.policies.base import BasePolicy, Decision, NoQuota
from gpufleet.policies.placement import BestFit
from gpufleet.state.jobs import ProgramState
from gpufleet.state.snapshot import Snapshot


def dominant_share(p: ProgramState, capacity: dict[str, int]) -> float:
    """Weighted dominant share: ``max_t usage_t / capacity_t`` over GPU types t, divided by
    the program's weight (DRF, Ghodsi et al., NSDI 2011, with weights as in its section 4.3;
    GPU types are the resources)."""
    share = 0.0
    for t, used in p.usage.items():
        cap = capacity.get(t, 0)
        if used and cap:
            s = used / cap
            if s > share:
                share = s
    return share / p.weight


class WeightedDrf(BasePolicy):
    """Progressive filling: repeatedly offer GPUs to the program with the lowest weighted
    dominant share that still has a job to try; a program whose head job cannot start is
    done for this cycle (FIFO within a program). No preemption: shares converge as jobs
    finish, as in Mesos' DRF allocator."""

    name: ClassVar[str] = "drf"
    summary: ClassVar[str] = "weighted dominant-resource fair share across programs"
    shares_between_programs = True

    def __init__(self) -> None:
        super().__init__(NoQuota(), BestFit())

    def schedule_cohort(self, snap: Snapshot, cohort: str, d: Decision) -> None:
        c = snap.cohort(cohort)
        cap = snap.capacity
        capacity = {
            t: sum(cap.groups[g].usable_gpus for g in gs)
            for t, gs in cap.by_cohort_type.get(cohort, {}).items()
        }
        heap = [
            (dominant_share(p, capacity), p.index, p, iter(p.pending.values()))
            for p in c.programs
            if p.pending
        ]
        heapq.heapify(heap)
        while heap:
            _, idx, p, jobs = heapq.heappop(heap)
            job = next(jobs, None)
            if job is None or not self.try_start(snap, job, d):
                continue
            heapq.heappush(heap, (dominant_share(p, capacity), idx, p, jobs))
