"""The per-cycle victim cache of tiresias and srtf decides exactly as a full scan of the
running jobs for every blocked head (the code before the cache, kept here as the oracle)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from gpufleet.policies.base import Decision
from gpufleet.policies.basic.priority import evict_until_fits
from gpufleet.policies.research.srtf import Srtf
from gpufleet.policies.research.tiresias import Tiresias
from gpufleet.policies.victim_cache import VictimCache
from gpufleet.sim.simulator import Simulation
from gpufleet.state.capacity import Placement
from gpufleet.state.jobs import Job
from gpufleet.state.snapshot import Snapshot
from tests.support.builders import A100, H100, Harness
from tests.support.runs import decisions
from tests.support.scenarios import mixed


class ScanLowerQueues:
    """Tiresias's victims by a full scan per head: strictly lower queue, lowest first,
    then latest submitted."""

    def __init__(self, policy: Tiresias) -> None:
        self.p = policy

    def make_room(self, snap: Snapshot, job: Job, decision: Decision) -> Placement | None:
        p, now = self.p, snap.now_s
        mine = p.queue_of(job, now)
        if mine >= len(p.thresholds_gpu_s):
            return None
        allowed = set(job.spec.gpu_types)
        keyed = []
        for v in snap.running(snap.cohort(job.cohort)):
            if not v.spec.preemptible or v.placement is None:
                continue
            lvl = p.queue_of(v, now)
            if lvl > mine and snap.gpu_type_of(v.placement) in allowed:
                keyed.append((-lvl, -v.spec.submit_s, -v.spec.id, v))
        if not keyed:
            return None
        keyed.sort(key=lambda k: k[:3])
        victims = [k[3] for k in keyed]
        bound = sum(v.spec.gpus for v in victims)
        return evict_until_fits(snap, job, victims, bound, p.admission, p.placement, decision)


class ScanLongerRemaining:
    """SRTF's victims by a full scan per head: strictly more work left, largest first."""

    def __init__(self, policy: Srtf) -> None:
        self.p = policy

    def make_room(self, snap: Snapshot, job: Job, decision: Decision) -> Placement | None:
        mine = job.remaining_s
        allowed = set(job.spec.gpu_types)

        def left(v: Job) -> float:
            return v.remaining_s - (snap.now_s - v.start_s) * v.speed

        victims = [
            v
            for v in snap.running(snap.cohort(job.cohort))
            if v.spec.preemptible
            and v.placement is not None
            and left(v) > mine
            and snap.gpu_type_of(v.placement) in allowed
        ]
        if not victims:
            return None
        victims.sort(key=lambda v: (-left(v), -v.spec.id))
        bound = sum(v.spec.gpus for v in victims)
        p = self.p
        return evict_until_fits(snap, job, victims, bound, p.admission, p.placement, decision)


def scanning(policy: Tiresias | Srtf) -> Tiresias | Srtf:
    """The policy with its cached victim search swapped for the full scan."""
    if isinstance(policy, Tiresias):
        policy.preemption = ScanLowerQueues(policy)
    else:
        policy.preemption = ScanLongerRemaining(policy)
    return policy


POLICIES: dict[str, Callable[[], Tiresias | Srtf]] = {
    "srtf": Srtf,
    "srtf-depth-8": lambda: Srtf(depth=8),
    "tiresias": Tiresias,
    "tiresias-starve": lambda: Tiresias(threshold_gpu_hours=4, starve_limit=2.0),
    "tiresias-3q": lambda: Tiresias(threshold_gpu_hours=1, queues=3, threshold_growth=8),
}


@pytest.mark.parametrize("name", sorted(POLICIES))
@pytest.mark.parametrize("seed", [1, 2])
def test_cached_victims_decide_exactly_as_a_full_scan(name: str, seed: int) -> None:
    cached = decisions(Simulation(mixed("fifo", seed), policy=POLICIES[name]()))
    scanned = decisions(Simulation(mixed("fifo", seed), policy=scanning(POLICIES[name]())))
    assert any(pre for _, _, pre, _, _ in cached[0]), "the run should preempt"
    assert cached == scanned


def _two_type_fleet(make: Callable[[], Tiresias | Srtf], seed: int) -> tuple[int, bool]:
    """Small H100 and A100 pools, jobs allowing one type or both, arriving over a few hours
    with random sizes and lengths, run under the cached and the scanning policy: the
    number of preemptions and whether every cycle decided the same."""
    rng = random.Random(seed)
    sizes = [rng.choice([2, 4, 8]) for _ in range(rng.randint(1, 3))]
    a100 = [rng.choice([4, 8]) for _ in range(rng.randint(1, 2))]
    jobs = [
        (
            rng.uniform(0, 5 * 3600),
            rng.randint(1, 8),
            rng.choice([600.0, 3600.0, 5 * 3600.0, 20 * 3600.0]),
            rng.choice([(H100,), (A100,), (H100, A100), (A100, H100)]),
        )
        for _ in range(rng.randint(5, 25))
    ]
    logs = []
    for policy in (make(), scanning(make())):
        h = Harness("fifo", nodes=sizes)
        for i, g in enumerate(a100):
            h.state.add_pool(f"pa-{i}", "dc", A100, g, 1, "org", 1000.0)
            h.state.deliver(f"pa-{i}")
        h.state.repower("dc", 0.0)
        h.engine.policy = policy
        logs.append(_run(h, jobs))
    return sum(len(pre) for _, _, pre in logs[0]), logs[0] == logs[1]


@pytest.mark.parametrize("make", [Srtf, Tiresias], ids=["srtf", "tiresias"])
@pytest.mark.parametrize("seed", range(25))
def test_cached_victims_decide_as_a_full_scan_on_random_two_type_fleets(
    make: Callable[[], Tiresias | Srtf], seed: int
) -> None:
    assert _two_type_fleet(make, seed)[1]


def test_the_random_two_type_fleets_do_preempt() -> None:
    # the comparison above must not hold vacuously
    for make in (Srtf, Tiresias):
        assert sum(_two_type_fleet(make, seed)[0] for seed in range(25)) >= 10


def _run(h: Harness, jobs: Sequence[tuple[float, int, float, tuple[str, ...]]]) -> list[Any]:
    log: list[Any] = []
    pending = sorted(jobs)
    t = 0.0
    for _ in range(400):
        running = [j for p in h.state.programs for j in p.running.values()]
        end = min((j.start_s + j.remaining_s / j.speed for j in running), default=float("inf"))
        t = min(pending[0][0] if pending else float("inf"), end)
        if t == float("inf"):
            break
        while pending and pending[0][0] <= t:
            at, gpus, work, types = pending.pop(0)
            h.submit("a", gpus, at=at, work_s=work, types=types, checkpoint_s=600.0)
        for j in running:
            if j.start_s + j.remaining_s / j.speed <= t + 1e-9:
                h.finish(j, t)
        h.state.dirty.add("c")
        d = h.cycle(t)
        log.append((t, [(j.spec.id, p.slots) for j, p in d.admit], [j.spec.id for j in d.preempt]))
    return log


def test_the_index_skips_jobs_stopped_earlier_in_the_cycle_and_counts_their_gpus_out() -> None:
    # Jobs of 1, 2, 3 and 1 GPUs on one 8-GPU node, ranks 4, 3, 2, 1 (ids 0..3). Asked for rank > 1
    # the index gives ids 0, 1, 2 with 1 + 2 + 3 = 6 GPUs; once id 1 is stopped this cycle,
    # ids 0, 2 with 1 + 3 = 4 GPUs.
    h = Harness("fifo", nodes=[8])
    jobs = [h.submit("a", g) for g in (1, 2, 3, 1)]
    h.cycle(0)
    rank = {j.spec.id: 4 - j.spec.id for j in jobs}
    cache = VictimCache(lambda snap, vs: [(-rank[v.spec.id], -v.spec.id) for v in vs])
    snap = h.engine._snap
    snap.reset(0.0)
    index = cache.of(snap, h.state.cohorts["c"])
    victims, bound = index.above(snap, [H100], 1)
    assert ([v.spec.id for v in victims], bound) == ([0, 1, 2], 6)
    snap.assume_stop(jobs[1])
    victims, bound = index.above(snap, [H100, H100], 1)
    assert ([v.spec.id for v in victims], bound) == ([0, 2], 4)
    assert index.above(snap, [A100], 0)[1] == 0
    snap.rollback()
