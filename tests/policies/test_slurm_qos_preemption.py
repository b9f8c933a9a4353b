"""Slurm QOS preemption with requeue (PreemptType=preempt/qos, PreemptMode=REQUEUE) in
slurm-multifactor and slurm-backfill.

Each table case cites the slurm.schedmd.com page and section whose rule it transcribes;
the expected victims are worked out by hand in the comment. ``JobSpec.priority`` is the
QOS priority; ``preempt_qos_gap`` g: a QOS preempts every QOS at least g below it."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable

import pytest

from gpufleet.domain.ids import GpuTypeName, JobId, ProgramId
from gpufleet.domain.jobs import JobSpec
from gpufleet.domain.reasons import Reason
from gpufleet.errors import InputError
from gpufleet.policies.base import Decision
from gpufleet.policies.registry import make_policy
from gpufleet.policies.slurm import SlurmBackfill, SlurmBackfillEasy, SlurmMultifactor
from gpufleet.policies.slurm.preempt import preempt_levels
from gpufleet.state.capacity import Placement
from gpufleet.state.jobs import Job, JobState
from gpufleet.state.snapshot import Snapshot
from tests.support.builders import H100, Harness
from tests.support.invariants import check

H = 3600.0
Make = Callable[..., SlurmMultifactor]
BOTH: list[Make] = [SlurmMultifactor, SlurmBackfill]
BOTH_IDS = ["multifactor", "backfill"]


class QosHarness:
    """The tests' Harness with a Slurm policy instance and jobs that carry a QOS, a
    checkpoint interval, a time limit and preemptibility."""

    def __init__(self, policy: SlurmMultifactor, nodes: list[int]) -> None:
        self.h = Harness("fifo", nodes=nodes)
        self.h.engine.policy = policy
        self.policy = policy
        self._ids = itertools.count()

    def submit(
        self,
        gpus: int,
        qos: int,
        *,
        at: float = 0.0,
        work_s: float = 10 * H,
        checkpoint_s: float | None = None,
        limit_s: float | None = None,
        preemptible: bool = True,
    ) -> Job:
        spec = JobSpec(
            JobId(next(self._ids)),
            ProgramId("a"),
            at,
            gpus,
            work_s,
            (GpuTypeName(H100),),
            qos,
            preemptible,
            checkpoint_s,
            time_limit_s=limit_s,
        )
        job = Job(spec, self.h.state.program_by_name["a"])
        self.h.engine.submit(job)
        return job

    def run(self, gpus: int, qos: int, at: float = 0.0, **kw: float) -> Job:
        """Submit and start a job at ``at`` (the cluster must have room)."""
        job = self.submit(gpus, qos, at=at, **kw)  # type: ignore[arg-type]
        self.h.cycle(at)
        assert job.state == JobState.RUNNING
        return job

    def cycle(self, now: float) -> Decision:
        d = self.h.cycle(now)
        check(self.h.state)
        return d


def qos_only(make: Make, **options: float | int) -> SlurmMultifactor:
    """Priority by QOS alone (weight_qos 1000), so that the tests read by QOS."""
    weights = {"weight_age": 0.0, "weight_fairshare": 0.0, "weight_job_size": 0.0}
    return make(weight_partition=0.0, weight_qos=1000.0, **weights, **options)


# --- the documented rules, hand-computed ---------------------------------------------------
@pytest.mark.parametrize("make", BOTH, ids=BOTH_IDS)
def test_preempt_html_design_lowest_qos_is_preempted_first(make: Make) -> None:
    # preempt.html, "Preemption Design and Operation": candidates are "sorted by ... QOS
    # priority". Nodes [8, 8]: L1 (QOS 1) and L5 (QOS 5) hold one node each; H (QOS 10,
    # 8 GPUs) arrives at 100 s: stopping L1 (the lower) frees a node, H fits: victims [L1].
    s = QosHarness(qos_only(make, preempt_qos_gap=1), [8, 8])
    l1, l5 = s.run(8, 1), s.run(8, 5)
    hi = s.submit(8, 10, at=100)
    d = s.cycle(100)
    assert d.preempt == [l1]
    assert (hi.state, l5.state, l1.state) == (JobState.RUNNING,) * 2 + (JobState.PENDING,)


@pytest.mark.parametrize("make", BOTH, ids=BOTH_IDS)
def test_preempt_html_design_youngest_of_one_qos_goes_first(make: Make) -> None:
    # Same page; ties within a QOS are left open, here the youngest goes (least work lost,
    # PreemptParameters=youngest_first's rule): A started at 0, B at 50, both QOS 1; H at
    # 100 needs one node: victims [B].
    s = QosHarness(qos_only(make, preempt_qos_gap=1), [8, 8])
    a, b = s.run(8, 1), s.run(8, 1, at=50)
    s.submit(8, 10, at=100)
    assert s.cycle(100).preempt == [b]
    assert a.state == JobState.RUNNING


@pytest.mark.parametrize("make", BOTH, ids=BOTH_IDS)
def test_preempt_html_design_reorder_preempts_the_one_big_job_of_the_example(make: Make) -> None:
    # Same section, its example: "to start an 8 node job, the ordered preemption
    # candidates may be 2 node, 4 node and 8 node ... [after reordering] preempting only one
    # job". Nodes of 2, 4 and 8 GPUs hold J2 (QOS 1), J4 (QOS 2), J8 (QOS 3). H (8 GPUs,
    # one node) stops J2, then J4 (no node has 8 free), then J8: it fits on node 2. Reorder:
    # [J8, J2, J4] (J2 and J4 share no node with node 2); again: after J8 it fits. [J8].
    s = QosHarness(qos_only(make, preempt_qos_gap=1), [2, 4, 8])
    j2, j4, j8 = s.run(2, 1), s.run(4, 2), s.run(8, 3)
    s.submit(8, 10, at=100)
    assert s.cycle(100).preempt == [j8]
    assert (j2.state, j4.state) == (JobState.RUNNING, JobState.RUNNING)


@pytest.mark.parametrize("make", BOTH, ids=BOTH_IDS)
def test_slurm_conf_preempt_exempt_time_protects_a_young_job_then_wakes(make: Make) -> None:
    # slurm.conf.html, PreemptExemptTime: "minimum run time for all jobs before they can be
    # considered for preemption". Exempt 3600 s; L (QOS 1) started at 0; H (QOS 10) at
    # 1800: L has run 1800 < 3600 s, nothing is preempted and the cycle asks to be woken
    # at 0 + 3600 = 3600, when L has run exactly the exempt time and is preempted.
    s = QosHarness(qos_only(make, preempt_qos_gap=1, preempt_exempt_time_s=3600.0), [8])
    low = s.run(8, 1)
    hi = s.submit(8, 10, at=1800)
    d = s.cycle(1800)
    assert (d.preempt, d.wake_at, hi.reason) == ([], 3600.0, Reason.CAPACITY)
    s.h.state.dirty.add("c")  # what the host does at a wake-up
    assert s.cycle(3600).preempt == [low]
    assert hi.state == JobState.RUNNING


@pytest.mark.parametrize(
    ("victim_qos", "preempted"),
    [
        # qos.html, "Job Preemption": a QOS "can be assigned ... a list of other QOS's that
        # it can preempt". Gap 5: QOS 10's list is every QOS <= 10 - 5 = 5.
        pytest.param(5, True, id="qos.html-Preempt-list-holds-QOS-5-for-QOS-10-gap-5"),
        pytest.param(6, False, id="qos.html-Preempt-list-lacks-QOS-6-for-QOS-10-gap-5"),
        # a job never preempts its own QOS (PreemptMode=WITHIN is not modelled)
        pytest.param(10, False, id="qos.html-no-preemption-within-a-QOS"),
    ],
)
@pytest.mark.parametrize("make", BOTH, ids=BOTH_IDS)
def test_qos_html_preempt_list_is_every_qos_at_least_the_gap_lower(
    make: Make, victim_qos: int, preempted: bool
) -> None:
    s = QosHarness(qos_only(make, preempt_qos_gap=5), [8])
    low = s.run(8, victim_qos)
    s.submit(8, 10, at=100)
    assert s.cycle(100).preempt == ([low] if preempted else [])


@pytest.mark.parametrize("make", BOTH, ids=BOTH_IDS)
def test_slurm_conf_preempt_type_none_is_the_default(make: Make) -> None:
    # slurm.conf.html, PreemptType: "preempt/none: Job preemption is disabled. This is the
    # default." Same as above with the default options: QOS 10 waits behind QOS 0.
    s = QosHarness(qos_only(make), [8])
    s.run(8, 0)
    hi = s.submit(8, 10, at=100)
    assert s.cycle(100).preempt == []
    assert hi.reason == Reason.CAPACITY


def test_a_non_preemptible_job_is_never_a_victim() -> None:
    s = QosHarness(qos_only(SlurmMultifactor, preempt_qos_gap=1), [8])
    s.run(8, 0, preemptible=False)
    s.submit(8, 10, at=100)
    assert s.cycle(100).preempt == []


@pytest.mark.parametrize("make", BOTH, ids=BOTH_IDS)
def test_slurm_conf_preempt_mode_requeue_restarts_from_the_last_checkpoint(make: Make) -> None:
    # slurm.conf.html, PreemptMode=REQUEUE: "Preempts jobs by requeuing them". L (QOS 1,
    # 10 h of work, checkpoint every hour) runs from 0; at 2.5 h H preempts it: L is
    # pending again with 10 - floor(2.5 / 1) x 1 = 8 h of work left, and 0.5 h lost.
    s = QosHarness(qos_only(make, preempt_qos_gap=1), [8])
    low = s.run(8, 1, work_s=10 * H, checkpoint_s=H)
    s.submit(8, 10, at=2.5 * H)
    s.cycle(2.5 * H)
    assert (low.state, low.reason, low.preemptions) == (JobState.PENDING, Reason.PREEMPTED, 1)
    assert low.remaining_s == 8 * H
    assert low.lost_gpu_s == 8 * 0.5 * H


def test_scontrol_html_submit_time_is_reset_so_a_requeued_job_ages_from_the_requeue() -> None:
    # scontrol.html, SubmitTime: "If a job is requeued, the submit time is reset".
    # PriorityMaxAge 1 h. L submitted at 0, requeued at 2.5 h: at 3 h its age factor is
    # (3 - 2.5) / 1 = 0.5, where its first submit would give min(1, 3 / 1) = 1.0.
    pol = SlurmMultifactor(preempt_qos_gap=1, max_age_hours=1.0)
    s = QosHarness(pol, [8])
    low = s.run(8, 1)
    s.submit(8, 10, at=2.5 * H)
    s.cycle(2.5 * H)
    s.h.state.dirty.add("c")
    s.cycle(3 * H)
    snap = s.h.engine._snap
    assert pol.factors_of(snap, s.h.state.cohorts["c"])(low).age == pytest.approx(0.5)


@pytest.mark.parametrize("make", BOTH, ids=BOTH_IDS)
def test_priority_multifactor_html_jobs_that_can_preempt_are_evaluated_first(make: Make) -> None:
    # priority_multifactor.html, "Introduction": jobs are evaluated in the order "Jobs that
    # can preempt, ..., Job priority". QOS weight 0, age weight only: W (QOS 0, 16 GPUs,
    # submitted at 0) is older and cannot fit on [8, 8] full of R1, R2 (QOS 0). H (QOS 10,
    # 8 GPUs) arrives at 100 with a lower multifactor priority, yet goes first and preempts
    # the youngest QOS 0 job (R1 and R2 both started at 0: the higher id, R2).
    pol = make(preempt_qos_gap=1, weight_fairshare=0.0, weight_job_size=0.0)
    s = QosHarness(pol, [8, 8])
    r1, r2 = s.run(8, 0), s.run(8, 0)
    w = s.submit(16, 0)
    hi = s.submit(8, 10, at=100)
    d = s.cycle(100)
    assert d.preempt == [r2]
    assert (hi.state, r1.state, w.state) == (JobState.RUNNING, JobState.RUNNING, JobState.PENDING)


def test_preemption_levels_put_a_job_ahead_of_every_job_it_can_preempt() -> None:
    # Gap 2, QOS values 0, 1, 2, 5: 0 and 1 have nothing 2 below (level 0); 2 has 0
    # (level 0 + 1 = 1); 5 has 2 as the highest value <= 3 (level 1 + 1 = 2).
    s = QosHarness(SlurmMultifactor(preempt_qos_gap=2), [8])
    for q in (0, 1, 2, 5):
        s.submit(16, q)
    assert preempt_levels(s.h.state.cohorts["c"], 2) == {0: 0, 1: 0, 2: 1, 5: 2}


# --- preemption in the backfill phase ------------------------------------------------------
def _backfill_preemptor(k_limit_s: float) -> tuple[Job, Job, Decision]:
    # Nodes [8, 8]. R (QOS 10, limit 100) holds node 0, L (QOS 0, limit 1000) node 1. J
    # (QOS 10, 16 GPUs) is the top job: preempting L frees only 8, so it waits; its shadow
    # time is T = 1000 (L's end). K (QOS 5, 8 GPUs) is in the backfill window: it may
    # preempt L (5 - 1 >= 0).
    s = QosHarness(qos_only(SlurmBackfillEasy, preempt_qos_gap=1), [8, 8])
    s.run(8, 10, limit_s=100, work_s=100)
    low = s.run(8, 0, limit_s=1000, work_s=1000)
    s.submit(16, 10, work_s=100, limit_s=100, at=10)
    k = s.submit(8, 5, work_s=k_limit_s, limit_s=k_limit_s, at=10)
    return low, k, s.cycle(10)


def test_a_backfill_candidate_may_preempt_when_it_leaves_the_top_job_reservation_intact() -> None:
    # K's limit 50 ends by T: node 1 is free again at T as before. K preempts L and starts.
    low, k, d = _backfill_preemptor(50.0)
    assert d.preempt == [low] and k.state == JobState.RUNNING


def test_a_backfill_candidate_that_would_delay_the_reservation_preempts_nothing() -> None:
    # K's limit 5000 runs past T = 1000 on node 1, which J needs then: held, L keeps running.
    low, k, d = _backfill_preemptor(5000.0)
    assert d.preempt == [] and low.state == JobState.RUNNING
    assert k.reason == Reason.HELD_FOR_BACKFILL


def test_a_negative_gap_is_refused_with_its_name() -> None:
    with pytest.raises(InputError, match="'preempt_qos_gap' must be 0"):
        make_policy("slurm-backfill", {"preempt_qos_gap": -1})
    pol = make_policy("slurm-multifactor", {"preempt_qos_gap": 2, "preempt_exempt_time_s": 60})
    assert isinstance(pol, SlurmMultifactor) and pol.preempt_gap == 2


# --- no preemption cycles: seeded random tiny fleets ---------------------------------------
class Spy:
    """Wraps a policy's preemption to note which job each victim was stopped for and how
    long the victim had run then."""

    def __init__(self, policy: SlurmMultifactor) -> None:
        assert policy.preemption is not None
        self.inner = policy.preemption
        self.by: dict[int, tuple[Job, float]] = {}
        policy.preemption = self

    def make_room(self, snap: Snapshot, job: Job, decision: Decision) -> Placement | None:
        first = len(decision.preempt)
        got = self.inner.make_room(snap, job, decision)
        if got is not None:
            self.by.update(
                (v.spec.id, (job, snap.now_s - v.start_s)) for v in decision.preempt[first:]
            )
        return got


def _random_run(make: Make, seed: int) -> tuple[int, float, list[tuple[Job, Job, float]]]:
    """The gap, the exempt time, and (preemptor, victim, victim's run time then) for every
    preemption of a random run."""
    rng = random.Random(seed)
    gap, exempt = rng.randint(1, 3), rng.choice([0.0, 300.0])
    pol = make(preempt_qos_gap=gap, preempt_exempt_time_s=exempt, weight_qos=1000.0)
    s = QosHarness(pol, [rng.choice([2, 4, 8]) for _ in range(rng.randint(1, 3))])
    spy = Spy(pol)
    biggest = max(s.h.state.capacity.node_gpus)
    arrivals = sorted(rng.uniform(0, 2000) for _ in range(rng.randint(4, 12)))
    pairs: list[tuple[Job, Job, float]] = []
    t, wake = 0.0, math.inf
    while arrivals or s.h.pending() or any(p.running for p in s.h.state.programs):
        running = [j for p in s.h.state.programs for j in p.running.values()]
        end = min((j.start_s + j.remaining_s / j.speed for j in running), default=math.inf)
        t = min(arrivals[0] if arrivals else math.inf, end, wake)
        if not math.isfinite(t):
            break  # what is left can never start
        if arrivals and arrivals[0] == t:
            arrivals.pop(0)
            w = float(rng.randint(1, 20) * 60)
            ck = rng.choice([None, 120.0])
            s.submit(rng.randint(1, biggest), rng.randint(0, 4), at=t, work_s=w, limit_s=w,
                     checkpoint_s=ck)  # fmt: skip
        for j in running:
            if j.start_s + j.remaining_s / j.speed <= t + 1e-9:
                s.h.finish(j, t)
        s.h.state.dirty.add("c")
        d = s.cycle(t)
        wake = d.wake_at if d.wake_at is not None else math.inf
        admitted = {j.spec.id for j, _ in d.admit}
        for v in d.preempt:
            a, ran = spy.by[v.spec.id]
            assert a.spec.id in admitted, "a victim stopped for a job that did not start"
            pairs.append((a, v, ran))
        assert len(pairs) < 500, "preemptions should not go on forever"
    return gap, exempt, pairs


@pytest.mark.parametrize("make", BOTH, ids=BOTH_IDS)
@pytest.mark.parametrize("seed", range(60))
def test_no_job_preempts_an_equal_or_higher_qos_and_there_are_no_cycles(
    make: Make, seed: int
) -> None:
    gap, exempt, pairs = _random_run(make, seed)
    for a, v, ran in pairs:
        assert v.spec.priority <= a.spec.priority - gap, (a, v)
        assert ran >= exempt, "a victim younger than PreemptExemptTime"
    edges = {(a.spec.id, v.spec.id) for a, v, _ in pairs}
    assert not any((b, a) in edges for a, b in edges), "A preempted B and B preempted A"
    # QOS strictly falls along every edge, so the graph has no cycle of any length
    order = {a.spec.id: a.spec.priority for a, _, _ in pairs} | {
        v.spec.id: v.spec.priority for _, v, _ in pairs
    }
    assert all(order[a] > order[b] for a, b in edges)


def test_the_random_runs_do_preempt() -> None:
    # the property above must not hold vacuously
    n = sum(len(_random_run(make, seed)[2]) for make in BOTH for seed in range(60))
    assert n >= 20
