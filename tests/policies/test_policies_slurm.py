"""Slurm semantics: multifactor priority, Fair Tree / classic fair-share, EASY backfill.

Each table case cites the slurm.schedmd.com page and section whose rule it transcribes;
the expected values are worked out by hand from the formula in the comment."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from gpufleet.domain.ids import GpuTypeName, JobId, ProgramId
from gpufleet.domain.jobs import JobSpec
from gpufleet.domain.org import Quota
from gpufleet.domain.reasons import Reason
from gpufleet.policies.slurm import SlurmBackfill, SlurmBackfillEasy, SlurmMultifactor
from gpufleet.policies.slurm.priority import DecayedUsage, classic_fairshare, fair_tree
from gpufleet.state.jobs import Job, JobState
from tests.support.builders import A100, H100
from tests.support.slurm_harness import SlurmHarness

QOS_ONLY = {
    "weight_age": 0.0,
    "weight_fairshare": 0.0,
    "weight_job_size": 0.0,
    "weight_partition": 0.0,
    "weight_qos": 1000.0,
}


# --- fair share: documented rules, hand-computed ------------------------------------------
@pytest.mark.parametrize(
    ("tree", "expect"),
    [
        # fair_tree.html, "Introduction"/"Algorithm": if sibling accounts A and B have
        # LF_A > LF_B, all children of A rank above all children of B. Shares 1 each;
        # usage A: p1 30, p2 10; B: p3 5, p4 55 (total 100).
        # LF_A = (2/4)/(40/100) = 1.25 > LF_B = (2/4)/(60/100) = 0.833.
        # In A: LF(p2) = 0.5/0.25 = 2 > LF(p1) = 0.5/0.75 = 0.667.
        # In B: LF(p3) = 0.5/(5/60) = 6 > LF(p4) = 0.5/(55/60) = 0.545.
        # Ranks 4, 3, 2, 1 of n = 4 -> p2 1.0, p1 0.75, p3 0.5, p4 0.25: p3's own LF (6) is
        # the highest, yet it ranks below both programs of A.
        pytest.param(
            {"A": {1: (1.0, 30.0), 2: (1.0, 10.0)}, "B": {3: (1.0, 5.0), 4: (1.0, 55.0)}},
            {2: 1.0, 1: 0.75, 3: 0.5, 4: 0.25},
            id="fair_tree.html-Algorithm-children-of-higher-LF-account-outrank-the-rest",
        ),
        # fair_tree.html, "Level Fairshare Calculation": LF is infinite with no usage, so an
        # idle program outranks a busy sibling: p2 rank 2/2 = 1.0, p1 rank 1/2 = 0.5.
        pytest.param(
            {"A": {1: (1.0, 10.0), 2: (1.0, 0.0)}},
            {2: 1.0, 1: 0.5},
            id="fair_tree.html-Level-Fairshare-no-usage-is-infinite-LF",
        ),
        # fair_tree.html, "Ties": tied accounts' children are merged and tied users share a
        # rank. A and B both idle (LF inf, tied); their programs all idle (tied): every
        # program gets rank 3 of 3 = 1.0.
        pytest.param(
            {"A": {1: (1.0, 0.0), 2: (2.0, 0.0)}, "B": {3: (1.0, 0.0)}},
            {1: 1.0, 2: 1.0, 3: 1.0},
            id="fair_tree.html-Ties-tied-accounts-merge-and-tied-users-share-a-rank",
        ),
        # Shares matter: A has 3 shares of 4 and half the usage: LF_A = 0.75/0.5 = 1.5,
        # LF_B = 0.25/0.5 = 0.5 -> p1 (in A) 2/2 = 1.0, p2 1/2 = 0.5.
        pytest.param(
            {"A": {1: (3.0, 50.0)}, "B": {2: (1.0, 50.0)}},
            {1: 1.0, 2: 0.5},
            id="fair_tree.html-Level-Fairshare-LF-is-shares-over-usage",
        ),
    ],
)
def test_fair_tree_ranking(
    tree: dict[str, dict[int, tuple[float, float]]], expect: dict[int, float]
) -> None:
    assert fair_tree(tree) == pytest.approx(expect)


@pytest.mark.parametrize(
    ("shares", "usage", "factor"),
    [
        # classic_fair_share.html / priority_multifactor.html "Fairshare Factor":
        # F = 2^(-U/S): no usage -> 1.0; usage equal to the share -> 0.5 ("used exactly
        # the portion allocated"); twice the share -> 0.25; far over -> near 0.
        pytest.param(0.25, 0.0, 1.0, id="classic-2^(-U/S)-no-usage-is-1"),
        pytest.param(0.25, 0.25, 0.5, id="classic-2^(-U/S)-usage-equal-share-is-0.5"),
        pytest.param(0.25, 0.5, 0.25, id="classic-2^(-U/S)-twice-the-share-is-0.25"),
        pytest.param(0.1, 1.0, 2.0**-10, id="classic-2^(-U/S)-ten-times-over"),
    ],
)
def test_classic_fairshare_factor(shares: float, usage: float, factor: float) -> None:
    assert classic_fairshare(shares, usage) == pytest.approx(factor)


@pytest.mark.parametrize(
    ("half_life_s", "expect"),
    [
        # priority_multifactor.html "PriorityDecayHalfLife": 1 GPU for one half-life h,
        # decayed continuously to the end: h/ln2 * (1 - 2^-1) = 3600/ln2/2 = 2596.9...
        pytest.param(3600.0, 3600.0 / math.log(2) / 2, id="one-half-life-of-1-GPU"),
        # half-life 0: no decay, plain GPU-seconds
        pytest.param(0.0, 3600.0, id="no-decay-plain-GPU-seconds"),
    ],
)
def test_usage_decays_with_the_half_life(half_life_s: float, expect: float) -> None:
    s = SlurmHarness(SlurmMultifactor())
    p = s.h.state.program_by_name["a"]
    u = DecayedUsage(half_life_s)
    u.watch([p])
    u.advance(0.0)
    p.used_gpus = 1  # a program holding 1 GPU from t = 0
    u.settle()
    u.advance(3600.0)
    assert u.of(p) == pytest.approx(expect)


# --- the other factors ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("waited_h", "age"),
    [
        # priority_multifactor.html "Age Factor": age / PriorityMaxAge, 1.0 at the max.
        # PriorityMaxAge 7 days = 168 h.
        pytest.param(84.0, 0.5, id="Age-Factor-half-of-PriorityMaxAge-is-0.5"),
        pytest.param(168.0, 1.0, id="Age-Factor-reaches-1-at-PriorityMaxAge"),
        pytest.param(336.0, 1.0, id="Age-Factor-saturates-beyond-PriorityMaxAge"),
    ],
)
def test_age_factor_saturates_at_max_age(waited_h: float, age: float) -> None:
    pol = SlurmMultifactor(max_age_hours=168.0)
    s = SlurmHarness(pol, nodes=[8])
    s.submit("a", 16)  # never fits: stays pending
    job = s.submit("a", 16)
    s.h.cycle(waited_h * 3600)
    assert pol.factors_of(s.h.engine._snap, s.h.state.cohorts["c"])(job).age == age


@pytest.mark.parametrize(
    ("gpus", "favor_small", "size"),
    [
        # priority_multifactor.html "Job Size Factor": 16 usable GPUs in the cohort.
        pytest.param(4, False, 4 / 16, id="Job-Size-larger-jobs-score-higher-4-of-16"),
        pytest.param(16, False, 1.0, id="Job-Size-whole-cohort-scores-1"),
        # PriorityFavorSmall=YES: (G - g + 1) / G, a 1-GPU job scores 1.0
        pytest.param(1, True, 1.0, id="PriorityFavorSmall-one-GPU-scores-1"),
        pytest.param(4, True, 13 / 16, id="PriorityFavorSmall-4-of-16-is-13/16"),
    ],
)
def test_job_size_factor(gpus: int, favor_small: bool, size: float) -> None:
    pol = SlurmMultifactor(favor_small=favor_small)
    s = SlurmHarness(pol, nodes=[8, 8])
    job = s.submit("a", gpus)
    s.h.cycle(0)
    fac = pol.factors_of(s.h.engine._snap, s.h.state.cohorts["c"])(job)
    assert fac.job_size == pytest.approx(size)


def test_qos_and_partition_factors_normalize_by_the_largest() -> None:
    # priority_multifactor.html "QOS Factor" / "Partition Factor": priority / largest.
    # Job priorities 10 and 5 -> 1.0 and 0.5; program priorities 4 (a) and 2 (b) -> 1.0, 0.5
    pol = SlurmMultifactor()
    s = SlurmHarness(
        pol,
        nodes=[8],
        programs={"a": ("org", 1.0, {H100: Quota(8)}), "b": ("org", 1.0, {H100: Quota(8)})},
    )
    s.h.state.program_by_name["a"].priority = 4
    s.h.state.program_by_name["b"].priority = 2
    hi = s.submit("a", 16, priority=10)
    lo = s.submit("b", 16, priority=5)
    s.h.cycle(0)
    f = pol.factors_of(s.h.engine._snap, s.h.state.cohorts["c"])
    assert (f(hi).qos, f(hi).partition) == (1.0, 1.0)
    assert (f(lo).qos, f(lo).partition) == (0.5, 0.5)


def test_fair_share_lets_the_idle_program_go_first() -> None:
    # a runs 8 GPUs for an hour; at t = 100 a then b submit 8-GPU jobs. At t = 3600 one of
    # them can start: with fair-share b (no usage, LF inf) outranks a, though a's job is
    # older; with the fair-share weight at 0 the older job (a's) goes first.
    for weight, first in ((10000.0, "b"), (0.0, "a")):
        pol = SlurmMultifactor(weight_fairshare=weight, weight_age=0.0)
        s = SlurmHarness(
            pol,
            nodes=[8],
            programs={"a": ("org", 1.0, {H100: Quota(8)}), "b": ("x", 1.0, {H100: Quota(8)})},
        )
        s.submit("a", 8, work_s=3600)
        s.h.cycle(0)
        ja = s.submit("a", 8, at=100)
        jb = s.submit("b", 8, at=100)
        s.h.cycle(100)
        s.advance()
        started = "a" if ja.state == JobState.RUNNING else "b"
        assert jb.state != ja.state
        assert started == first, weight


# --- EASY backfill -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("nodes", "running", "k_gpus", "k_limit", "k_types", "starts"),
    [
        # sched_config.html "Backfill": a lower-priority job may start if it does not
        # delay the expected start of the higher-priority one. Node [8]; R holds 4 GPUs
        # until t = 100; J (8 GPUs) is reserved at T = 100. K (4 GPUs) ending by t = 50
        # is gone by T: it starts.
        pytest.param([8], [(4, 100.0)], 4, 50.0, (H100,), True, id="Backfill-ends-before-T"),
        # K would run until t = 200 on the GPUs J needs at T = 100: it waits.
        pytest.param([8], [(4, 100.0)], 4, 200.0, (H100,), False, id="Backfill-would-delay"),
        # Nodes [8, 8]: R1 holds node 0 until 100, R2 half of node 1 until 1000. J (8) is
        # reserved on node 0 at T = 100; K (4, until 500) goes best-fit on node 1's free 4:
        # not GPUs J needs, so it starts though it ends after T.
        pytest.param(
            [8, 8], [(8, 100.0), (4, 1000.0)], 4, 500.0, (H100,), True, id="Backfill-other-GPUs"
        ),
        # No time limit: the estimate is the run time at the slowest allowed type. 40 s of
        # work allowing A100 (1/3 the speed): 120 s > T = 100, so it may not start...
        pytest.param([8], [(4, 100.0)], 4, None, (H100, A100), False, id="no-limit-slowest-type"),
        # ...while on H100 only it is 40 s <= 100: it starts.
        pytest.param([8], [(4, 100.0)], 4, None, (H100,), True, id="no-limit-reference-type"),
    ],
)
def test_easy_backfill_respects_the_top_job_reservation(
    nodes: list[int],
    running: list[tuple[int, float]],
    k_gpus: int,
    k_limit: float | None,
    k_types: tuple[str, ...],
    starts: bool,
) -> None:
    s = SlurmHarness(SlurmBackfillEasy(**QOS_ONLY), nodes=nodes)
    for g, end in running:
        s.submit("a", g, work_s=end, limit_s=end, priority=50)
    s.h.cycle(0)
    top = s.submit("a", 8, priority=10, work_s=100, limit_s=100)
    k = s.submit("a", k_gpus, priority=1, work_s=40, limit_s=k_limit, types=k_types)
    d = s.h.cycle(0)
    assert top.state == JobState.PENDING
    assert (k.state == JobState.RUNNING) is starts
    if not starts:
        assert (k, Reason.HELD_FOR_BACKFILL) in d.blocked


def test_backfill_scan_is_bounded_by_bf_max_job_test() -> None:
    # Three small jobs behind a blocked top job; bf_max_job_test = 2 looks at two of them.
    s = SlurmHarness(SlurmBackfillEasy(bf_max_job_test=2, **QOS_ONLY), nodes=[8])
    s.submit("a", 4, work_s=100, limit_s=100, priority=50)
    s.h.cycle(0)
    s.submit("a", 8, priority=10, limit_s=100)
    smalls = [s.submit("a", 1, priority=1, work_s=10, limit_s=10) for _ in range(3)]
    s.h.cycle(0)
    assert [j.state for j in smalls] == [JobState.RUNNING] * 2 + [JobState.PENDING]


def _brute_fits(free: list[int], sizes: list[int], gpus: int) -> bool:
    """J fits iff one node holds it (up to the largest node's size), or, bigger, some set
    of nodes does: every subset tried."""
    if gpus <= max(sizes):
        return any(f >= gpus for f in free)
    return any(
        sum(free[i] for i in c) >= gpus
        for r in range(1, len(free) + 1)
        for c in itertools.combinations(range(len(free)), r)
    )


def _brute_shadow(sizes: list[int], running: list[Job], gpus: int) -> float:
    """The earliest end time at which J fits, trying every end time."""
    for t in sorted({0.0} | {j.start_s + j.remaining_s for j in running}):
        free = list(sizes)
        for j in running:
            if j.start_s + j.remaining_s > t:
                assert j.placement is not None
                for node, n in j.placement.slots:
                    free[node] -= n
        if _brute_fits(free, sizes, gpus):
            return t
    return math.inf


@pytest.mark.parametrize("seed", range(150))
def test_a_backfilled_job_never_delays_the_reserved_start_of_the_top_job(seed: int) -> None:
    rng = random.Random(seed)
    sizes = [rng.choice([2, 4, 8]) for _ in range(rng.randint(1, 3))]
    s = SlurmHarness(SlurmBackfillEasy(**QOS_ONLY), nodes=sizes)
    free = s.h.state.capacity.node_free
    for _ in range(rng.randint(1, 4)):  # running jobs, each sized to fit a node's free GPUs
        most = max(free)
        if most:
            w = float(rng.randint(1, 20) * 10)
            s.submit("a", rng.randint(1, most), work_s=w, limit_s=w, priority=50)
            s.h.cycle(0)
    assert not s.h.pending()
    total = sum(sizes)
    top = s.submit("a", rng.randint(1, total), priority=10, work_s=50, limit_s=50)
    for _ in range(rng.randint(1, 6)):
        w = float(rng.randint(1, 30) * 10)
        s.submit("a", rng.randint(1, max(sizes)), priority=1, work_s=w, limit_s=w)
    shadow = _brute_shadow(sizes, s.running_jobs(), top.spec.gpus)
    s.h.cycle(0)
    while top.state == JobState.PENDING and s.advance() is not None:
        pass
    assert top.first_start_s >= 0
    assert top.first_start_s <= shadow + 1e-9


def test_easy_never_starves_the_top_job_on_a_random_workload() -> None:
    # A 16-GPU job waits behind running small jobs while small jobs keep arriving every
    # 20 s for hours; with the reservation it starts by the time the jobs running at its
    # arrival have all ended (each at most 500 s), whatever arrives meanwhile.
    rng = random.Random(7)
    s = SlurmHarness(SlurmBackfill(), nodes=[8, 8])
    for _ in range(6):
        w = float(rng.randint(50, 500))
        s.submit("a", rng.randint(1, 4), work_s=w, limit_s=w)
    s.h.cycle(0)
    big = s.submit("a", 16, at=1, work_s=100, limit_s=100)
    bound = max(j.start_s + j.remaining_s for j in s.running_jobs())
    t = 1.0
    s.h.cycle(t)
    arrivals = [1.0 + 20 * i for i in range(1, 500)]
    while big.state == JobState.PENDING and t < 10_000:
        run = s.running_jobs()
        next_end = min((j.start_s + j.remaining_s / j.speed for j in run), default=math.inf)
        if arrivals and arrivals[0] < next_end:
            t = arrivals.pop(0)
            w = float(rng.randint(50, 500))
            s.submit("a", rng.randint(1, 4), at=t, work_s=w, limit_s=w)
            s.h.cycle(t)
        else:
            t = s.advance() or math.inf
    assert big.state == JobState.RUNNING
    assert big.first_start_s <= bound


def test_a_drafts_time_limit_reaches_its_spec() -> None:
    # the simulator builds JobSpec(id, program, *draft): the new last fields must line up
    from gpufleet.domain.jobs import JobDraft

    draft = JobDraft(0.0, 1, 60.0, (GpuTypeName(H100),), time_limit_s=90.0)
    assert JobSpec(JobId(0), ProgramId("a"), *draft).time_limit_s == 90.0


def test_a_generator_can_give_its_jobs_a_time_limit() -> None:
    # time_limit_hours: 3 -> every generated job carries time_limit_s = 3 x 3600 = 10,800
    from tests.support.scenarios import one_site

    sc = one_site(
        programs="""      - name: p
        quotas: {H100-SXM: {nominal: 16}}
        workload:
          generator: {jobs_per_day: 24, gpus: 1, duration_hours: 1, time_limit_hours: 3,
                      end: 2025-01-02}"""
    )
    drafts = list(sc.workloads[0][1](1))
    assert drafts and {d.time_limit_s for d in drafts} == {10_800.0}
