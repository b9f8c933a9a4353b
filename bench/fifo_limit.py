"""The pure-Python limit: a minimal strict-FIFO simulator over the synthetic scenario's jobs.

Issue 16 states the limit as "a minimal pure-Python strict-FIFO simulator on the same job
mix". This is that simulator, small enough to read in one screen, with none of gpufleet's
model (no snapshot, reasons, recorder, quotas, programs, result): what is left is the work
any strict-FIFO simulator of this fleet must do, so its events/s is the ceiling for one
written in Python on this machine, and ``bench/run.py`` reports ours over it.

The jobs are exactly ``synthetic_scenario(jobs, gpus, load, seed)``'s: each program's
workload stream drawn with the simulator's seeds (:func:`gpufleet.sim.simulator.program_seed`)
and merged in the simulator's arrival order (submit time, then stream), so job ``i`` here
is job id ``i`` there. Drawing them is timed apart (``generate_s``): the limit is the loop.

The model, which is the ``fifo`` policy's on this fleet (the oracle test in
``tests/test_bench_fifo_limit.py`` checks that every job starts at the same instant):

- events: a heap of ``(end, seq, job)`` for running jobs and the arrival list, one instant
  at a time: its completions first (in launch order), then its arrivals, then one pass of
  the queue; nothing after the horizon;
- queue: strict FIFO with head-of-line blocking: start jobs from the head while the head
  fits, stop at the first that does not;
- placement: per-node free counts in buckets by free GPUs, the rule of
  :mod:`gpufleet.state.capacity` (a job of at most one node's GPUs on the node with the
  fewest free GPUs that fit it, the bucket's oldest entry first; a larger job on the
  largest-free nodes first, its last piece best-fit). The placement matters: a
  single-node job can wait with enough free GPUs spread over nodes, and which node a job
  took decides the next job's fit.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

Slots = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Jobs:
    """The scenario's jobs in arrival order as three columns, and the fleet they run on."""

    submit_s: list[float]
    gpus: list[int]
    work_s: list[float]
    nodes: int
    gpus_per_node: int
    horizon_s: float


@dataclass(frozen=True)
class LimitRun:
    """What the minimal simulator did: each job's start (None: never started), events."""

    starts: list[float | None]
    events: int
    wall_s: float
    cpu_s: float  # time.process_time over the loop: what a busy machine skews less


def synthetic_jobs(jobs: int, gpus: int, load: float, seed: int) -> Jobs:
    """The jobs of ``synthetic_scenario(jobs, gpus, load=load, seed=seed)`` as the
    simulator numbers them (every stream's draws, merged by submit time then stream)."""
    from gpufleet.inputs.scenario.synthetic import synthetic_scenario
    from gpufleet.sim.simulator import program_seed

    sc = synthetic_scenario(jobs, gpus, policy="fifo", load=load, seed=seed)
    (pool,) = sc.pools
    streams = [
        ((d.submit_s, i, d.gpus, d.work_s) for d in factory(program_seed(sc.seed, i)))
        for i, (_, factory) in enumerate(sc.workloads)
    ]
    speed = next(t.throughput for t in sc.catalog if t.name == pool.gpu_type)
    submit: list[float] = []
    sizes: list[int] = []
    work: list[float] = []
    for s, _, g, w in heapq.merge(*streams):
        submit.append(s)
        sizes.append(g)
        work.append(w / speed)
    return Jobs(submit, sizes, work, pool.node_count, pool.gpus_per_node, sc.horizon_s)


def simulate(jobs: Jobs) -> LimitRun:
    """Strict FIFO over ``jobs`` to the horizon (the module docstring's model)."""
    submit, sizes, work, horizon = jobs.submit_s, jobs.gpus, jobs.work_s, jobs.horizon_s
    n, top = len(submit), jobs.gpus_per_node
    buckets: list[dict[int, None]] = [{} for _ in range(top + 1)]
    buckets[top] = dict.fromkeys(range(jobs.nodes))
    free = [top] * jobs.nodes
    free_total = top * jobs.nodes
    starts: list[float | None] = [None] * n
    running: dict[int, Slots] = {}
    ends: list[tuple[float, int, int]] = []
    queue: deque[int] = deque()
    pop, push = heapq.heappop, heapq.heappush
    nxt, seq, events = 0, 0, 0
    inf = float("inf")
    c0, t0 = time.process_time(), time.perf_counter()
    while True:
        t = submit[nxt] if nxt < n else inf
        if ends and ends[0][0] < t:
            t = ends[0][0]
        if t > horizon:
            break
        while ends and ends[0][0] == t:  # completions, in launch order
            for node, k in running.pop(pop(ends)[2]):
                f = free[node]
                del buckets[f][node]
                buckets[f + k][node] = None
                free[node] = f + k
                free_total += k
            events += 1
        while nxt < n and submit[nxt] == t:  # arrivals, in arrival order
            queue.append(nxt)
            nxt += 1
            events += 1
        while queue:  # one pass: start from the head while it fits
            j = queue[0]
            g = sizes[j]
            if g > free_total:
                break
            slots = _fit(buckets, top, g)
            if slots is None:
                break
            for node, k in slots:
                f = free[node]
                del buckets[f][node]
                buckets[f - k][node] = None
                free[node] = f - k
            free_total -= g
            queue.popleft()
            starts[j] = t
            running[j] = slots
            push(ends, (t + work[j], seq, j))
            seq += 1
    return LimitRun(starts, events, time.perf_counter() - t0, time.process_time() - c0)


def _fit(buckets: list[dict[int, None]], top: int, gpus: int) -> Slots | None:
    """The capacity index's rule (the module docstring), on one group of nodes."""
    if gpus <= top:
        for k in range(gpus, top + 1):
            b = buckets[k]
            if b:
                return ((next(iter(b)), gpus),)
        return None
    chosen: list[tuple[int, int]] = []
    rem = gpus
    for k in range(top, 0, -1):
        for node in buckets[k]:
            if rem <= k:
                for j in range(rem, k):
                    if buckets[j]:
                        chosen.append((next(iter(buckets[j])), rem))
                        return tuple(chosen)
                chosen.append((node, rem))
                return tuple(chosen)
            chosen.append((node, k))
            rem -= k
    return None


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """The worker's ``fifo-limit`` kind: draw the jobs (timed apart), run the loop."""
    t0 = time.perf_counter()
    jobs = synthetic_jobs(spec["jobs"], spec["gpus"], spec.get("load", 1.0), spec["seed"])
    generate_s = time.perf_counter() - t0
    run = simulate(jobs)
    started = sum(s is not None for s in run.starts)
    return {
        "wall_s": run.wall_s,
        "cpu_s": run.cpu_s,
        "generate_s": generate_s,
        "events": run.events,
        "events_per_s": run.events / run.wall_s,
        "events_per_cpu_s": run.events / run.cpu_s,
        "events_per_s_with_generation": run.events / (run.wall_s + generate_s),
        "jobs_submitted": len(jobs.submit_s),
        "jobs_started": started,
    }
