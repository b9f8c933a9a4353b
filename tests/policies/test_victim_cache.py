"""The victim indexes of tiresias and srtf, kept between cycles, decide exactly as a full
scan of the running jobs for every blocked head (the code before the indexes, kept here as
the oracle), and give, at every question of every cycle, the victims and GPU bound a full
rebuild gives."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from gpufleet.policies.base import Decision
from gpufleet.policies.basic.priority import evict_until_fits
from gpufleet.policies.kept_victims import KeptVictims
from gpufleet.policies.research.srtf import PreemptLongerRemaining, Srtf
from gpufleet.policies.research.tiresias import PreemptLowerQueues, Tiresias
from gpufleet.sim.simulator import Simulation
from gpufleet.state.capacity import Placement
from gpufleet.state.jobs import Job
from gpufleet.state.snapshot import Snapshot
from tests.support.builders import A100, H100, Harness
from tests.support.runs import decisions
from tests.support.scenarios import TIRESIAS_OPTIONS, mixed


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


class CheckedLongerRemaining(PreemptLongerRemaining):
    """SRTF's kept index, checked at every question against a full rebuild from the live
    running jobs (the scan's formula, its order and its bound) before it decides."""

    def __init__(self, policy: Srtf) -> None:
        super().__init__(policy.admission, policy.placement)
        self.questions = 0
        self.answered = 0  # questions with at least one victim

    def make_room(self, snap: Snapshot, job: Job, decision: Decision) -> Placement | None:
        index = self.cache.of(snap, snap.cohort(job.cohort))
        kept_it, bound = index.above(snap, job.spec.gpu_types, job.remaining_s)
        kept = list(kept_it)
        now, mine, allowed = snap.now_s, job.remaining_s, set(job.spec.gpu_types)

        def left(v: Job) -> float:
            return v.remaining_s - (now - v.start_s) * v.speed

        full = sorted(
            (
                v
                for v in snap.running(snap.cohort(job.cohort))
                if v.spec.preemptible
                and v.placement is not None
                and v.spec.id not in snap.stopped
                and left(v) > mine
                and snap.gpu_type_of(v.placement) in allowed
            ),
            key=lambda v: (-left(v), -v.spec.id),
        )
        assert [v.spec.id for v in kept] == [v.spec.id for v in full], (now, job.spec.id)
        assert bound == sum(v.spec.gpus for v in full), (now, job.spec.id)
        self.questions += 1
        self.answered += bool(full)
        if not bound:
            return None
        return evict_until_fits(snap, job, kept, bound, self.admission, self.placement, decision)


def checked_srtf(depth: int = 256) -> Srtf:
    policy = Srtf(depth=depth)
    policy.victims = policy.preemption = CheckedLongerRemaining(policy)
    return policy


@pytest.mark.parametrize("depth", [256, 8])
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_srtfs_kept_victims_are_a_full_rebuilds_at_every_question_of_every_cycle(
    seed: int, depth: int
) -> None:
    # the mixed scenario: two GPU types of different speeds, three programs, jobs that end,
    # are preempted and restart, so the kept index follows starts, stops, ends and restarts
    policy = checked_srtf(depth)
    cached = decisions(Simulation(mixed("fifo", seed), policy=policy))
    victims = policy.victims
    assert isinstance(victims, CheckedLongerRemaining)
    assert victims.answered >= 10, "the run should ask with victims to give"
    # and the decisions are those of the scan, cycle by cycle
    scanned = decisions(Simulation(mixed("fifo", seed), policy=scanning(Srtf(depth=depth))))
    assert cached == scanned


@pytest.mark.parametrize("seed", range(25))
def test_srtfs_kept_victims_are_a_full_rebuilds_on_random_two_type_fleets(seed: int) -> None:
    assert _two_type_fleet(checked_srtf, seed)[1]


def test_the_kept_index_leaves_out_work_left_equal_and_breaks_exact_ties_by_highest_id() -> None:
    # Three 1-GPU jobs of 100 s started at 0 (ids 0, 1, 2) and one of 200 s (id 3), asked at
    # now = 40 s (speed 1): ids 0-2 have 100 - 40 = 60 s left, id 3 has 200 - 40 = 160 s.
    # Work left strictly above 60: only id 3 (1 GPU). Above 59.5: id 3, then the tied three
    # by highest id: 2, 1, 0 (4 GPUs).
    h = Harness("fifo", nodes=[8])
    jobs = [h.submit("a", 1, work_s=w) for w in (100.0, 100.0, 100.0, 200.0)]
    h.cycle(0)
    assert h.running() == [0, 1, 2, 3] and all(j.speed == 1.0 for j in jobs)
    kept = KeptVictims()
    snap = h.engine._snap
    snap.reset(40.0)
    index = kept.of(snap, h.state.cohorts["c"])
    victims, bound = index.above(snap, [H100], 60.0)
    assert ([v.spec.id for v in victims], bound) == ([3], 1)
    victims, bound = index.above(snap, [H100], 59.5)
    assert ([v.spec.id for v in victims], bound) == ([3, 2, 1, 0], 4)
    snap.assume_stop(jobs[2])  # stopped earlier in the cycle: out, and its GPU too
    victims, bound = index.above(snap, [H100], 59.5)
    assert ([v.spec.id for v in victims], bound) == ([3, 1, 0], 3)
    assert index.above(snap, [A100], 0.0)[1] == 0  # no job on that type
    snap.rollback()


def test_the_kept_index_follows_a_job_that_ended_and_one_that_restarted_between_looks() -> None:
    # Jobs of 100 s (id 0) and 300 s (id 1, checkpoints every 80 s) on one 2-GPU node,
    # started at 0. At 100 s id 0 ends; id 1 is stopped (preempted by hand: its last
    # checkpoint at 80 s, so work left 300 - 80 = 220 s) and started again at 100 s, all
    # between two looks. At 150 s id 1 has 220 - 50 = 170 s left: above 165 s it is the one
    # victim, above 170 s there is none. (The old run's entry would say 300 - 150 = 150 s
    # left, below 165: a restart must replace it.)
    h = Harness("fifo", nodes=[2])
    a = h.submit("a", 1, work_s=100.0)
    b = h.submit("a", 1, work_s=300.0, checkpoint_s=80.0)
    h.cycle(0)
    kept = KeptVictims()
    snap = h.engine._snap
    snap.reset(0.0)
    first = kept.of(snap, h.state.cohorts["c"]).above(snap, [H100], 0.0)[0]
    assert [v.spec.id for v in first] == [1, 0]
    h.finish(a, 100.0)
    h.engine.preempt(b, 100.0)
    d = h.cycle(100.0)
    assert [j.spec.id for j, _ in d.admit] == [1] and b.remaining_s == 220.0
    kept.started(b)
    kept.new_cycle()
    snap.reset(150.0)
    index = kept.of(snap, h.state.cohorts["c"])
    victims, bound = index.above(snap, [H100], 165.0)
    assert ([v.spec.id for v in victims], bound) == ([1], 1)
    assert index.above(snap, [H100], 170.0)[1] == 0


class CheckedLowerQueues(PreemptLowerQueues):
    """Tiresias's kept index, checked at every question against a full rebuild: every
    running job's queue by ``queue_of`` now, the scan's order and its bound."""

    def __init__(self, policy: Tiresias) -> None:
        super().__init__(policy, policy.admission, policy.placement)
        self.answered = 0  # questions with at least one victim

    def make_room(self, snap: Snapshot, job: Job, decision: Decision) -> Placement | None:
        p, now = self.policy, snap.now_s
        mine = p.queue_of(job, now)
        if mine >= len(p.thresholds_gpu_s):
            return None
        index = self.cache.of(snap, snap.cohort(job.cohort))
        kept_it, bound = index.above(snap, job.spec.gpu_types, mine)
        kept = list(kept_it)
        allowed = set(job.spec.gpu_types)
        keyed = sorted(
            ((-p.queue_of(v, now), -v.spec.submit_s, -v.spec.id), v)
            for v in snap.running(snap.cohort(job.cohort))
            if v.spec.preemptible
            and v.placement is not None
            and v.spec.id not in snap.stopped
            and p.queue_of(v, now) > mine
            and snap.gpu_type_of(v.placement) in allowed
        )
        full = [v for _, v in keyed]
        assert [v.spec.id for v in kept] == [v.spec.id for v in full], (now, job.spec.id)
        assert bound == sum(v.spec.gpus for v in full), (now, job.spec.id)
        self.answered += bool(full)
        if not bound:
            return None
        return evict_until_fits(snap, job, kept, bound, self.admission, self.placement, decision)


def checked_tiresias(**options: Any) -> Tiresias:
    policy = Tiresias(**options)
    policy.victims = policy.preemption = CheckedLowerQueues(policy)
    return policy


@pytest.mark.parametrize("name", sorted(TIRESIAS_OPTIONS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tiresias_kept_victims_are_a_full_rebuilds_at_every_question_of_every_cycle(
    name: str, seed: int
) -> None:
    # jobs cross thresholds while running (3q: two of them), stop, restart and starve
    policy = checked_tiresias(**TIRESIAS_OPTIONS[name])
    decisions(Simulation(mixed("fifo", seed), policy=policy))
    assert isinstance(policy.victims, CheckedLowerQueues)
    assert policy.victims.answered >= 5, "the run should ask with victims to give"


@pytest.mark.parametrize("seed", range(25))
def test_tiresias_kept_victims_are_a_full_rebuilds_on_random_two_type_fleets(seed: int) -> None:
    assert _two_type_fleet(lambda: checked_tiresias(threshold_gpu_hours=1), seed)[1]
