"""Orders of pending jobs across a cohort's programs, lazily merged.

Each cohort and each program keeps its pending jobs in arrival order (a requeued job goes
back to the head), so FIFO is a plain iteration and priority order a lazy k-way merge: the
cost per cycle grows with the jobs a policy looks at, not with the queue's length.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from gpufleet.state.cluster import CohortState
from gpufleet.state.jobs import Job, ProgramState


def _priority_key(job: Job) -> tuple[int, float, int]:
    return (-job.spec.priority, job.spec.submit_s, job.spec.id)


def fifo(cohort: CohortState) -> Iterator[Job]:
    """Every pending job of the cohort in arrival order (preempted jobs first)."""
    return iter(cohort.queue.values())


def program_fifo(program: ProgramState) -> Iterator[Job]:
    """One program's pending jobs in arrival order."""
    return iter(program.pending.values())


def by_priority(programs: list[ProgramState]) -> Iterator[Job]:
    """Pending jobs by priority (highest first), then submit time.

    A program whose jobs all share one priority is already in that order and is merged
    lazily; one with mixed priorities is sorted on demand (O(n log n) for that program)."""
    streams: list[Iterator[Job]] = []
    for p in programs:
        if not p.pending:
            continue
        if p.mixed_priority:
            streams.append(iter(sorted(p.pending.values(), key=_priority_key)))
        else:
            streams.append(iter(p.pending.values()))
    if len(streams) == 1:  # already in order: a merge of one would only cost a key per job
        return streams[0]
    return heapq.merge(*streams, key=_priority_key)


def refill_heads(streams: dict[int, Iterator[Job]], heads: dict[int, Job]) -> None:
    """Give every program (by index) without a head its next pending job; a program whose
    stream is exhausted leaves ``streams``. Used by the round-of-heads policies."""
    for i, it in list(streams.items()):
        if i not in heads:
            nxt = next(it, None)
            if nxt is None:
                del streams[i]
            else:
                heads[i] = nxt
