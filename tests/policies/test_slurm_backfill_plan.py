"""Slurm's planning backfill, ``slurm-backfill`` (issue 18, item 3), against EASY
(``slurm-backfill-easy``).

Sources: slurm.schedmd.com/sched_config.html ("Backfill": lower priority jobs start "if
doing so does not delay the expected start time of any higher priority jobs"),
slurm.conf.html (SchedulerParameters bf_interval, bf_max_job_test, bf_resolution) and
src/plugins/sched/backfill/backfill.c (slurm-22-05-9-1, ``_attempt_backfill``: every
job examined that cannot start now gets a reservation in ``node_space``; times rounded
down to ``bf_resolution``)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from gpufleet.domain.reasons import Reason
from gpufleet.policies.base import BasePolicy
from gpufleet.policies.slurm import SlurmBackfill, SlurmBackfillEasy
from gpufleet.policies.slurm.nodespace import NodeSpace
from gpufleet.policies.slurm.planexit import Soon
from gpufleet.state.capacity import CapacityIndex, Slots
from gpufleet.state.jobs import Job, JobState
from tests.support.slurm_harness import QOS_ONLY, SlurmHarness


def second_job_scene(policy: BasePolicy) -> tuple[SlurmHarness, Job, Job, Job]:
    """Nodes [8, 8]. R0 (8 GPUs, limit 1000 s) fills node 0, R1 (4 GPUs, limit 100 s) half
    of node 1. T1 (16 GPUs, limit 100) can start only when both end: 1000 s. T2 (8 GPUs,
    limit 100) can start on node 1 at 100 s and end by 200 <= 1000. K (4 GPUs, limit
    500) fits on node 1 now and ends at 500 <= 1000, so it leaves T1's start alone, but it
    would hold half of node 1 over T2's planned [100, 200)."""
    s = SlurmHarness(policy, nodes=[8, 8])
    s.submit("a", 8, priority=50, work_s=1000, limit_s=1000)
    s.submit("a", 4, priority=50, work_s=100, limit_s=100)
    t1 = s.submit("a", 16, priority=30, work_s=100, limit_s=100)
    t2 = s.submit("a", 8, priority=20, work_s=100, limit_s=100)
    k = s.submit("a", 4, priority=10, work_s=500, limit_s=500)
    s.h.cycle(0)  # the main scheduler starts R0 and R1, then the first backfill pass
    return s, t1, t2, k


@pytest.mark.parametrize(
    ("make", "k_runs", "t2_planned"),
    [
        # sched_config.html "Backfill" and _attempt_backfill: T2 is examined and planned at
        # R1's end, 100 s (bf_resolution 1 s: no rounding); K would delay it: held.
        pytest.param(
            lambda: SlurmBackfill(setup=QOS_ONLY, bf_resolution_s=1),
            False,
            100.0,
            id="slurm-plans-every-examined-job-and-K-waits",
        ),
        # Default bf_resolution 60 s: R1's end 100 s is planned at 60 s (100 // 60 x 60),
        # as backfill.c rounds end times down; K is held all the same.
        pytest.param(
            lambda: SlurmBackfill(setup=QOS_ONLY),
            False,
            60.0,
            id="slurm-bf_resolution-60-rounds-the-plan-down",
        ),
        # EASY reserves for T1 alone: K ends by T1's shadow time (500 <= 1000), so it
        # starts and T2 waits until K ends.
        pytest.param(
            lambda: SlurmBackfillEasy(setup=QOS_ONLY),
            True,
            None,
            id="easy-protects-only-the-top-job",
        ),
    ],
)
def test_slurm_backfill_never_delays_any_examined_job(
    make: type[BasePolicy], k_runs: bool, t2_planned: float | None
) -> None:
    pol = make()
    s, t1, t2, k = second_job_scene(pol)
    assert t1.state == JobState.PENDING and t2.state == JobState.PENDING
    assert (k.state == JobState.RUNNING) is k_runs
    assert pol.reserved_start_s(t2) == t2_planned  # type: ignore[attr-defined]
    if not k_runs:
        assert k.reason == Reason.HELD_FOR_BACKFILL
    while t2.state == JobState.PENDING and s.advance() is not None:
        pass
    assert t2.start_s == (100.0 if not k_runs else 500.0)


def test_backfill_waits_for_its_interval_and_asks_to_be_woken() -> None:
    # slurm.conf.html, bf_interval: "The number of seconds between backfill iterations"
    # (default 30). One 8-GPU node: R (4 GPUs) runs to 1000 s; T (8 GPUs) waits. At 0 s
    # the first pass runs (nothing fits yet besides R). K (4 GPUs, limit 10) arrives at
    # 10 s: the main scheduler stops at T, and the next pass is due at 0 + 30 = 30 s, so K
    # waits and the decision asks to be woken at 30; at 30 s the pass starts it (it ends by
    # T's planned start, 1000 s).
    pol = SlurmBackfill(setup=QOS_ONLY, bf_resolution_s=1)
    s = SlurmHarness(pol, nodes=[8])
    s.submit("a", 4, priority=50, work_s=1000, limit_s=1000)
    s.submit("a", 8, priority=20, work_s=100, limit_s=100)
    s.h.cycle(0)
    k = s.submit("a", 4, priority=10, work_s=10, limit_s=10, at=10)
    d = s.h.cycle(10)
    assert k.state == JobState.PENDING and d.wake_at == 30.0
    s.h.state.dirty.update(s.h.engine.wake_cohorts)  # as the simulator does at wake_at
    s.h.cycle(30)
    assert k.state == JobState.RUNNING and k.start_s == 30.0


@pytest.mark.parametrize(
    ("whole_nodes", "k_runs", "k_planned"),
    [
        # backfill.c (slurm-22-05-9-1) _attempt_backfill: a job planned for later gets
        # _add_reservation(start_time, end_reserve, avail_bitmap, ...) with avail_bitmap
        # its selected nodes, inverted (bit_not), so node_space[].avail_bitmap loses those
        # nodes whole over [start, end); a job tried later may use only nodes available
        # through its whole window (bit_and over the records it overlaps). T (12 GPUs)
        # is planned at 100 on node 0 (8) and node 1 (4): both nodes leave the plan over
        # [100, 200). K (1 GPU, limit 200) fits node 1's one free GPU now, but [0, 200)
        # crosses 100: held, and planned at T's reservation's end, 200.
        pytest.param(True, False, 200.0, id="_add_reservation-a-planned-job-holds-whole-nodes"),
        # GPUs only (the former plan): node 1 keeps 8 - 4 = 4 free over [100, 200), so K
        # (1 GPU) fits through its window and starts now.
        pytest.param(False, True, None, id="bf_whole_nodes-false-holds-only-the-gpus"),
    ],
)
def test_a_planned_job_holds_its_nodes_whole(
    whole_nodes: bool, k_runs: bool, k_planned: float | None
) -> None:
    # nodes [8, 8]: R0 holds node 0 (8 GPUs), R1 7 GPUs of node 1, both to 100 s
    pol = SlurmBackfill(setup=QOS_ONLY, bf_resolution_s=1, bf_whole_nodes=whole_nodes)
    s = SlurmHarness(pol, nodes=[8, 8])
    s.submit("a", 8, priority=50, work_s=100, limit_s=100)
    s.submit("a", 7, priority=50, work_s=100, limit_s=100)
    t = s.submit("a", 12, priority=30, work_s=100, limit_s=100)
    k = s.submit("a", 1, priority=10, work_s=200, limit_s=200)
    s.h.cycle(0)
    assert t.state == JobState.PENDING and pol.reserved_start_s(t) == 100.0
    assert (k.state == JobState.RUNNING) is k_runs
    assert pol.reserved_start_s(k) == k_planned
    if not k_runs:
        assert k.reason == Reason.HELD_FOR_BACKFILL


def test_a_job_ending_as_a_reservation_begins_does_not_fit_before_it() -> None:
    # backfill.c _attempt_backfill: a node_space record restricts a job's nodes when
    # "node_space[j].begin_time <= end_time", end_time = now + its time limit: the end
    # counts. One 8-GPU node, bf_resolution 1 s: R (4 GPUs) runs to 100 s; T (8 GPUs,
    # limit 100) is planned at 100, its reservation [100, 200). K (4 GPUs, limit 100) fits
    # the 4 free GPUs now but would end at 0 + 100 = 100, T's reservation's first
    # instant: held, and planned at 200 (the record [100, 200) ends by then).
    pol = SlurmBackfill(setup=QOS_ONLY, bf_resolution_s=1)
    s = SlurmHarness(pol, nodes=[8])
    s.submit("a", 4, priority=50, work_s=100, limit_s=100)
    t = s.submit("a", 8, priority=30, work_s=100, limit_s=100)
    k = s.submit("a", 4, priority=10, work_s=100, limit_s=100)
    s.h.cycle(0)
    assert pol.reserved_start_s(t) == 100.0
    assert k.state == JobState.PENDING and k.reason == Reason.HELD_FOR_BACKFILL
    assert pol.reserved_start_s(k) == 200.0


def test_bf_max_job_test_bounds_the_jobs_examined() -> None:
    # slurm.conf.html, bf_max_job_test: jobs examined per pass. Depth 1: only T (blocked)
    # is examined, so K, which fits now and ends by T's start, is not started.
    for depth, started in ((1, False), (2, True)):
        pol = SlurmBackfill(setup=QOS_ONLY, bf_max_job_test=depth, bf_resolution_s=1)
        s = SlurmHarness(pol, nodes=[8])
        s.submit("a", 4, priority=50, work_s=1000, limit_s=1000)
        s.submit("a", 8, priority=20, work_s=100, limit_s=100)
        k = s.submit("a", 4, priority=10, work_s=10, limit_s=10)
        s.h.cycle(0)
        assert (k.state == JobState.RUNNING) is started, depth


def _one_node_and_scan(seed: int) -> tuple[object, object]:
    """A random plan (running jobs' ends, then reservations) and a one-node job: the
    vectorised search's answer (_one_node) and the start-by-start scan's (_scan)."""
    rng = random.Random(seed)
    cap = CapacityIndex()
    gi = cap.group_for("c", "dc", "t", 8)
    for size in [rng.choice([4, 8]) for _ in range(rng.randint(1, 5))]:
        cap.set_usable(cap.add_node(gi, size), True)
    ends = []
    for node, size in enumerate(cap.node_gpus):
        used = rng.randint(size // 2, size)
        cap.reserve(((node, used),))
        ends.append((float(rng.randint(1, 50)), ((node, used),)))
    space = NodeSpace(cap, [gi], 0.0, 1.0)
    space.release_all(ends)
    for _ in range(rng.randint(0, 4)):
        node = rng.randrange(len(cap.node_gpus))
        start = float(rng.randint(0, 60))
        space.take(((node, 1),), start, start + rng.randint(1, 30))
    gpus, limit = rng.randint(2, 8), float(rng.randint(1, 40))
    times = np.array(space.times)
    stops = np.searchsorted(times, times + limit, side="right")  # as earliest() reads them
    hi = len(space.times)
    return space._one_node([gi], gpus, stops, 0, hi), space._scan([gi], gpus, stops, 0, hi)


def test_the_one_node_search_agrees_with_the_start_by_start_scan() -> None:
    # Seeded oracle over 200 random plans: the same start and node every time, and most
    # plans put the start after now (so the comparison is not between two Nones).
    later = 0
    for seed in range(200):
        one, scan = _one_node_and_scan(seed)
        assert one == scan, seed
        later += isinstance(one, tuple) and one[0] > 0
    assert later >= 100


def _random_plan(rng: random.Random) -> tuple[NodeSpace, list[int]]:
    """Two groups of 4- and 8-GPU nodes, running jobs' ends, then planned and started
    jobs on random nodes (some from now: a started job)."""
    cap = CapacityIndex()
    groups = [cap.group_for("c", "dc", t, 8) for t in ("t", "u")]
    for gi in groups:
        for size in [rng.choice([4, 8]) for _ in range(rng.randint(1, 12))]:
            cap.set_usable(cap.add_node(gi, size), True)
    ends: list[tuple[float, Slots]] = []
    for node in range(len(cap.node_gpus)):
        for _ in range(rng.randint(0, 3)):
            used = rng.randint(0, cap.node_free[node])
            if used:
                cap.reserve(((node, used),))
                ends.append((float(rng.randint(1, 80)), ((node, used),)))
    space = NodeSpace(cap, groups, 0.0, 1.0)
    space.release_all(ends)
    for _ in range(rng.randint(0, 10)):
        node = rng.randrange(len(cap.node_gpus))
        start = float(rng.choice([0, rng.randint(0, 90)]))
        low = int(space.free[:, space.pos[node]].min())
        if low:
            space.take(((node, rng.randint(1, low)),), start, start + rng.randint(1, 40))
    return space, groups


def test_the_clean_node_search_agrees_with_the_dense_one_node_search() -> None:
    # Seeded oracle over 400 random plans and jobs (one group or both, in either order;
    # the start searched from a random row; a window cutting the starts short): the
    # clean-node search (cleannodes.py) gives the dense search's start and node.
    later = dirty = 0
    for seed in range(400):
        rng = random.Random(seed)
        space, groups = _random_plan(rng)
        pick = rng.choice([groups, groups[::-1], groups[:1], groups[1:]])
        gpus, limit = rng.randint(1, 4), float(rng.randint(1, 50))
        times = np.array(space.times)
        stops = np.searchsorted(times, times + limit, side="right")  # as earliest() reads them
        lo = rng.randint(0, len(times) - 1)
        hi = rng.choice([len(times), rng.randint(lo, len(times))])
        dense = space._one_node(pick, gpus, stops, lo, hi)
        assert space.clean.one_node(pick, gpus, limit, stops, lo, hi) == dense, seed
        later += dense is not None and dense[0] > 0
        dirty += bool(space.clean.dirty)
    assert later >= 150 and dirty >= 150  # the comparisons are mostly of planned starts


def _assert_clean_search_is_dense(space: NodeSpace, groups: list[int], rng: random.Random) -> None:
    # one random search (GPUs, limit, first time) answered by the kept runs and densely
    gpus, limit = rng.randint(1, 4), float(rng.randint(1, 50))
    times = np.array(space.times)
    stops = np.searchsorted(times, times + limit, side="right")  # as earliest() reads them
    lo = rng.randint(0, len(times) - 1)
    dense = space._one_node(groups, gpus, stops, lo, len(times))
    assert space.clean.one_node(groups, gpus, limit, stops, lo, len(times)) == dense


def test_the_clean_node_search_stays_the_dense_ones_as_jobs_are_planned_between_searches() -> None:
    # Seeded oracle over 200 random plans, each searched eight times with a job planned on
    # a random node (new interval starts, a node touched again) between two searches: the
    # runs kept per size for the dirty nodes (cleannodes.py) are read again where a node
    # was touched, so every answer is still the dense search's.
    touched_again = 0
    for seed in range(200):
        rng = random.Random(1000 + seed)
        space, groups = _random_plan(rng)
        for _ in range(8):
            _assert_clean_search_is_dense(space, groups, rng)
            node = rng.randrange(len(space.nodes))
            k = space.pos[node]
            low = int(space.free[:, k].min())
            if low:
                touched_again += k in space.clean.dirty
                start = float(rng.randint(0, 90)) + rng.choice([0.0, 0.5])
                space.take(((node, rng.randint(1, low)),), start, start + rng.randint(1, 40))
    assert touched_again >= 100  # runs already read were dropped and read again


def test_the_clean_node_search_stays_the_dense_ones_as_jobs_are_reserved_between_searches() -> None:
    # Seeded oracle over 200 random plans, each searched eight times with, between two
    # searches, a job reserved on a random node (it holds the node whole: a clean node's
    # runs are seeded from its first start with enough free, a dirty node's runs cut, none
    # read again; cleannodes.py) or, one time in five, started on it (its runs read
    # again): every answer is still the dense search's.
    seeded = cut = 0
    for seed in range(200):
        rng = random.Random(2000 + seed)
        space, groups = _random_plan(rng)
        for _ in range(8):
            _assert_clean_search_is_dense(space, groups, rng)
            node = rng.randrange(len(space.nodes))
            k = space.pos[node]
            start = float(rng.randint(1, 90)) + rng.choice([0.0, 0.5])
            if rng.random() < 0.8:
                clean = k not in space.clean.dirty
                seeded += clean and bool(space.clean._runs)
                cut += not clean
                space.reserve(((node, 1),), start, start + rng.randint(1, 40))
            elif low := int(space.free[:, k].min()):
                space.take(((node, rng.randint(1, low)),), start, start + rng.randint(1, 40))
    assert seeded >= 100 and cut >= 100  # both ways of keeping the runs were compared


def test_the_early_exit_test_kept_across_reservations_answers_as_one_read_afresh() -> None:
    # Seeded oracle over 150 random plans: the exit test (planexit.Soon) is built, asked,
    # then jobs are reserved (a node's short time becomes the earlier of its own and the
    # reservation's start, no read) or, one time in five, started (the node read again)
    # between questions; every answer, from every position in the job list, is that of a
    # test built afresh on the plan as it stands.
    asked = kept_yes = 0
    for seed in range(150):
        rng = random.Random(3000 + seed)
        space, _ = _random_plan(rng)
        h = SlurmHarness(SlurmBackfill())
        jobs = [
            h.submit("a", rng.randint(1, 8), limit_s=float(rng.randint(1, 60)))
            for _ in range(rng.randint(1, 8))
        ]
        limits = [float(j.spec.time_limit_s or 0) for j in jobs]
        soon = Soon(jobs, limits, space)
        for _ in range(6):
            for i in range(len(jobs) + 1):
                got = soon.any_from(i)
                assert got == Soon(jobs, limits, space).any_from(i), (seed, i)
                asked += 1
                kept_yes += got
            node = rng.randrange(len(space.nodes))
            start = float(rng.randint(1, 60)) + rng.choice([0.0, 0.5])
            if rng.random() < 0.8:
                space.reserve(((node, 1),), start, start + rng.randint(1, 40))
            elif low := int(space.free[:, space.pos[node]].min()):
                space.take(((node, rng.randint(1, low)),), 0.0, start)
    assert asked > 3000 and 0.2 * asked < kept_yes < 0.8 * asked  # both answers compared
