"""The ``kai`` policy against KAI Scheduler's own rules (issue 17, items 1-5).

Each case writes the situation out: queues (program: department, over-quota weight,
deserved quota), the jobs running (started in an earlier cycle) and those pending, and what
KAI does, worked out by hand in the case's comment from the rule it cites in
NVIDIA/KAI-Scheduler ``pkg/scheduler`` (commit 72de64fc). One GPU type (H100), whole-GPU
jobs. Programs are created in the order they are listed (gpufleet's program order stands for
KAI's queue creation time); departments are entities, created in name order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction as F

import pytest

from gpufleet.domain.org import Quota
from gpufleet.policies.kai.fairshare import (
    DepartmentQuota,
    QueueShare,
    divide,
    divide_tree,
    parent_of,
)
from gpufleet.policies.kai.policy import KaiScheduler
from gpufleet.state.jobs import Job
from tests.support.builders import H100, Harness


def q(name: str, d: int, w: int, r: int, prio: int = 0, created: int = 0) -> QueueShare:
    return QueueShare(name, d, F(w), prio, None, r, created)


# --- item 1: the division in whole GPUs (resource_division.go) --------------------------
@pytest.mark.parametrize(
    ("capacity", "queues", "expect"),
    [
        # setDeservedResource: 1 + 2, 8 left. divideUpToFairShare offers 8 * 3/10 = 2.4 and
        # 8 * 7/10 = 5.6; both want more, so each takes floor: 2 and 5, remainders 0.4 and
        # 0.6 (getResourceToGiveInCurrentRound, "always done in round numbers"). Nobody took
        # less than offered: no second round. divideRemainingResource: the 1 GPU left goes
        # to the largest remainder, B. A = 1 + 2 = 3, B = 2 + 5 + 1 = 8 (exact fractions
        # would give 17/5 and 38/5).
        pytest.param(
            11, [q("A", 1, 3, 20), q("B", 2, 7, 20)], {"A": 3, "B": 8}, id="largest-remainder"
        ),
        # 5 by weights 1:1:1: offers 5/3 each, floors 1, remainders 2/3 each, 2 left. Equal
        # remainders go by creation (remainingRequestedOrderFn: CreationTimestamp before
        # UID): y (created 0), then z (created 1); x, created last, keeps 1.
        pytest.param(
            5,
            [q("x", 0, 1, 9, created=2), q("y", 0, 1, 9, created=0), q("z", 0, 1, 9, created=1)],
            {"x": 1, "y": 2, "z": 2},
            id="equal-remainders-by-creation-order",
        ),
        # divideOverQuotaResource runs every priority bucket's rounds before any remainder:
        # bucket 1 (A, B) is offered 5/2 each, takes 2 + 2 (remainders 1/2, 1/2); bucket 0
        # (L) is then offered the 1 left and takes it whole. Nothing is left for bucket 1's
        # remainders: A 2, B 2, L 1.
        pytest.param(
            5,
            [q("A", 0, 1, 9, prio=1), q("B", 0, 1, 9, prio=1), q("L", 0, 1, 9)],
            {"A": 2, "B": 2, "L": 1},
            id="lower-bucket-rounds-before-higher-remainders",
        ),
        # A wants 1 more than its quota: offered 6/2 = 3 >= 1, takes 1 and leaves 2, so
        # another round runs (requested < fairShare): B, alone, is offered 5 and takes 5.
        pytest.param(
            6, [q("A", 0, 1, 1), q("B", 0, 1, 9)], {"A": 1, "B": 5}, id="second-round-for-leftovers"
        ),
    ],
)
def test_kai_divides_the_surplus_in_whole_gpus(
    capacity: int, queues: list[QueueShare], expect: dict[str, int]
) -> None:
    assert divide(capacity, queues) == {k: F(v) for k, v in expect.items()}


def test_kai_time_aware_weight_is_kais_formula() -> None:
    # resource_division.go, calcShareWeights: s = max(0, n + k (n - u)), n = w / sum w.
    # A used the whole cluster (u = 1), B nothing, weights 1 / 1, k = 1: s(A) =
    # max(0, 1/2 + (1/2 - 1)) = 0, s(B) = 1/2 + 1/2 = 1. B is offered all 8 and takes them;
    # A keeps its deserved 2 and nothing more. (gpufleet's former w / (1 + k u) gave A
    # 1/2 : 1 of the surplus.)
    a = QueueShare("A", 2, F(1), 0, None, 10, 0, F(1))
    b = QueueShare("B", 0, F(1), 0, None, 10, 1, F(0))
    assert divide(10, [a, b], F(1)) == {"A": 2, "B": 8}


# --- item 2: quotas above the cluster are not scaled (setDeservedResource) ---------------
def test_kai_keeps_overcommitted_quotas_whole() -> None:
    # setDeservedResource gives every queue min(deserved, requestable) whatever the total;
    # the remaining amount is then negative and nothing is divided over quota:
    # C = 8, A deserves 6 and requests 8, B deserves 6 and requests 4 -> A 6, B 4 (sum 10).
    assert divide(8, [q("A", 6, 1, 8), q("B", 6, 1, 4)]) == {"A": 6, "B": 4}


# --- item 4: a department's own quota and over-quota weight ------------------------------
def test_kai_department_weight_is_its_own_not_its_queues_sum() -> None:
    # Two departments of two queues each, all weight 1, deserving 0 and requesting 8; C 8.
    # Summed (parent_of without own): weights 2 and 2 -> 4 / 4, then 2 / 2 inside each.
    # Set on the departments (queues README, "Queue Attributes" of a parent queue): weights
    # 3 and 1 -> offers 6 and 2, whole: D1 6 (3 / 3 inside), D2 2 (1 / 1 inside).
    kids1 = [q("a1", 0, 1, 8), q("a2", 0, 1, 8, created=1)]
    kids2 = [q("b1", 0, 1, 8, created=2), q("b2", 0, 1, 8, created=3)]
    summed = divide_tree(8, [parent_of("D1", 0, kids1), parent_of("D2", 0, kids2, created=1)])
    assert summed == {"D1": 4, "D2": 4, "a1": 2, "a2": 2, "b1": 2, "b2": 2}
    own = divide_tree(
        8,
        [
            parent_of("D1", 0, kids1, DepartmentQuota(0, F(3))),
            parent_of("D2", 0, kids2, DepartmentQuota(0, F(1)), created=1),
        ],
    )
    assert own == {"D1": 6, "D2": 2, "a1": 3, "a2": 3, "b1": 1, "b2": 1}


# --- the policy, one reclaim cycle --------------------------------------------------------
@dataclass(frozen=True)
class J:
    """A job of a case: label, program, GPUs, job priority, preemptible, submit time."""

    label: str
    program: str
    gpus: int
    priority: int = 0
    preemptible: bool = True
    at: float = 0.0


@dataclass(frozen=True)
class Case:
    nodes: list[int]
    programs: dict[str, tuple[str, int]]  # program -> (department, deserved GPUs)
    running: list[J]
    pending: list[J]
    preempted: list[str]
    started: list[str]
    departments: dict[str, DepartmentQuota] = field(default_factory=dict)
    hierarchy: str = "entity"
    priorities: dict[str, int] = field(default_factory=dict)  # queue priority per program


CASES = [
    # item 2. C 8; a and b deserve 6 each (12 > 8). a runs 6 (three 2-GPU jobs), b runs 2
    # and asks for 2 + 2 more. fs (setDeservedResource, no scaling): a min(6, 6) = 6, b
    # min(6, 2 + 4) = 6. b may reclaim (2 + 2 <= 6, CanReclaimResources) but a is not over
    # its allocatable share max(6, 6) (MaintainFairShareStrategy) nor over its deserved 6
    # (GuaranteeDeservedQuotaStrategy): a queue at its deserved quota keeps its GPUs.
    # (Scaling the quotas to 4 / 4, as gpufleet did, let b take one of a's jobs.)
    pytest.param(
        Case(
            [8],
            {"a": ("x", 6), "b": ("y", 6)},
            [J("a1", "a", 2), J("a2", "a", 2), J("a3", "a", 2), J("b1", "b", 2)],
            [J("b2", "b", 2, at=1), J("b3", "b", 2, at=1)],
            preempted=[],
            started=[],
        ),
        id="overcommitted-quotas-never-reclaim-at-deserved",
    ),
    # item 2, the other side. a deserves 2 but runs 6; b deserves 8 (10 > 8), runs 2 and
    # asks for 2: fs a 2, b 4. a holds 6 > max(2, 2): reclaimable; the newest of a's
    # equal-priority jobs (a3, submitted last) goes.
    pytest.param(
        Case(
            [8],
            {"a": ("x", 2), "b": ("y", 8)},
            [J("a1", "a", 2), J("a2", "a", 2, at=0.1), J("a3", "a", 2, at=0.2), J("b1", "b", 2)],
            [J("b2", "b", 2, at=1)],
            preempted=["a3"],
            started=["b2"],
        ),
        id="overcommitted-quotas-reclaim-above-deserved",
    ),
    # item 3. C 8, a and b deserve 4. a runs one 8-GPU job; b asks for 2: demands 8 / 2 ->
    # fs a 6, b 2. a holds 8 > max(4, 6) before the eviction (the strategies look at the
    # reclaimee's share before each victim, reclaimable.go reclaimResourcesFromReclaimees),
    # so the job goes although a ends at 0 < 6; b ends at 2/2 = 1, not above 1, so the
    # saturation bound (isFairShareSaturationLowerPerResource) does not apply.
    pytest.param(
        Case(
            [8],
            {"a": ("x", 4), "b": ("y", 4)},
            [J("a1", "a", 8)],
            [J("b1", "b", 2, at=1)],
            preempted=["a1"],
            started=["b1"],
        ),
        id="victim-may-end-below-its-fair-share",
    ),
    # item 4. Department D1 = {p1, p2} (deserve 2 each), D2 = {r} (deserves 4); C 8. p1 and
    # p2 run 4 each (2-GPU jobs), r asks for 2. Top: D1 4 + D2 2 (r requests 2), 2 left to
    # D1 -> 6; inside D1: 2 + 2, then 1 / 1 -> p1 3, p2 3. Leveled at the departments
    # (getLeveledQueues): D1 holds 8 > max(4, 6). Victim order: in D1, p1 and p2 are both
    # over fair share and quota, same priority, same saturation 4/3; the newer queue first
    # (prioritizeBasedOnCreationTime reversed): p2, its newest job p2b.
    pytest.param(
        Case(
            [8],
            {"p1": ("D1", 2), "p2": ("D1", 2), "r": ("D2", 4)},
            [
                J("p1a", "p1", 2),
                J("p1b", "p1", 2, at=0.1),
                J("p2a", "p2", 2),
                J("p2b", "p2", 2, at=0.1),
            ],
            [J("r1", "r", 2, at=1)],
            preempted=["p2b"],
            started=["r1"],
        ),
        id="department-reclaim-p1-listed-first",
    ),
    # the same, p2 listed (created) before p1: the reclaim still happens; the tie between
    # the two queues now goes to p1, the newer one.
    pytest.param(
        Case(
            [8],
            {"p2": ("D1", 2), "p1": ("D1", 2), "r": ("D2", 4)},
            [
                J("p1a", "p1", 2),
                J("p1b", "p1", 2, at=0.1),
                J("p2a", "p2", 2),
                J("p2b", "p2", 2, at=0.1),
            ],
            [J("r1", "r", 2, at=1)],
            preempted=["p1b"],
            started=["r1"],
        ),
        id="department-reclaim-p2-listed-first",
    ),
    # the saturation bound (reclaimable.go, isFairShareSaturationLowerPerResource), at the
    # department level. C 12; D1 = {r deserves 2, s deserves 2}, D2 = {v deserves 4}; s
    # and v run 6 each (2-GPU jobs), r asks for 2. Top: D1 4 + D2 4, 4 left by weights
    # 2 : 1 -> offers 8/3 and 4/3, floors 2 and 1, the last GPU to D1's larger remainder:
    # D1 7, D2 5. Inside D1: r 2, s 2 + 3 = 5. r may reclaim (0 + 2 <= 2). D2 is over its
    # share (6 > 5), so v's jobs come first in victim order and D2 holds 6 > max(4, 5),
    # but D1 would then hold (6 + 2) / 7 = 8/7 > 1 of its share against D2's 4/5: the bound
    # fails and v's jobs are passed over. s, over its share inside D1 (6 > max(2, 5)), is
    # compared with r as a program (getLeveledQueues): its newest job (s2, the higher id)
    # goes, and D1 ends at 6 / 7. (KAI's solver re-places the evicted victims a placement
    # did not need, by_pod_solver.go, to the same end.)
    pytest.param(
        Case(
            [12],
            {"r": ("D1", 2), "s": ("D1", 2), "v": ("D2", 4)},
            [J(f"s{i}", "s", 2) for i in range(3)] + [J(f"v{i}", "v", 2) for i in range(3)],
            [J("r1", "r", 2, at=1)],
            preempted=["s2"],
            started=["r1"],
        ),
        id="department-saturation-bound",
    ),
    # item 4, quotas summed. D1 = {p1 deserves 2}, D2 = {r deserves 4}; C 8. p1 runs 6, r
    # runs 2 and asks for 2. Summed: D1 2, D2 min(4, 4) = 4, 2 left to D1 -> 4; r's fs 4,
    # 2 + 2 <= 4; D1 holds 6 > max(2, 4): p1's newest job goes.
    pytest.param(
        Case(
            [8],
            {"p1": ("D1", 2), "r": ("D2", 4)},
            [
                J("p1a", "p1", 2),
                J("p1b", "p1", 2, at=0.1),
                J("p1c", "p1", 2, at=0.2),
                J("r1", "r", 2),
            ],
            [J("r2", "r", 2, at=1)],
            preempted=["p1c"],
            started=["r2"],
        ),
        id="department-quota-summed-from-its-queues",
    ),
    # the same with the quotas set on the departments: D1 deserves 6, D2 2. fs D1 6, D2 2;
    # inside D2, r gets min(4, 2) = 2 and 2 + 2 > 2: r may not reclaim
    # (CanReclaimResources), and nothing is free.
    pytest.param(
        Case(
            [8],
            {"p1": ("D1", 2), "r": ("D2", 4)},
            [
                J("p1a", "p1", 2),
                J("p1b", "p1", 2, at=0.1),
                J("p1c", "p1", 2, at=0.2),
                J("r1", "r", 2),
            ],
            [J("r2", "r", 2, at=1)],
            preempted=[],
            started=[],
            departments={"D1": DepartmentQuota(6), "D2": DepartmentQuota(2)},
        ),
        id="department-quota-set-on-the-department",
    ),
    # item 5. a (deserves 0) runs a low-priority job submitted first and a high-priority
    # job submitted later; b (deserves 4) asks for 2: fs a 6, b 2 (C 8; a requests 4 + 4).
    # a holds 8 > 6. Inside a queue the victim order is the job order reversed
    # (JobOrderFn: the priority plugin, higher first): the low-priority job goes, though
    # it is the older one.
    pytest.param(
        Case(
            [8],
            {"a": ("x", 0), "b": ("y", 4)},
            [J("lo", "a", 4, priority=0), J("hi", "a", 4, priority=5, at=0.5)],
            [J("b1", "b", 2, at=1)],
            preempted=["lo"],
            started=["b1"],
        ),
        id="lower-priority-job-is-the-victim",
    ),
    # item 5. a deserves 2, 16 GPUs free. A non-preemptible 2-GPU job starts (0 + 2 <= 2),
    # so does a preemptible 4-GPU job (it may go over quota); a non-preemptible 4-GPU job
    # may not: 2 + 4 > 2 (quota_check.go, isAllocatedNonPreemptibleOverQuota), though 10
    # GPUs are free.
    pytest.param(
        Case(
            [16],
            {"a": ("x", 2)},
            [],
            [
                J("np2", "a", 2, preemptible=False),
                J("p4", "a", 4),
                J("np4", "a", 4, preemptible=False),
            ],
            preempted=[],
            started=["np2", "p4"],
        ),
        id="non-preemptible-only-within-quota",
    ),
    # item 5, on the department: p1 deserves 4 but D1 deserves 2 (set on it): the
    # non-preemptible 4-GPU job passes p1's check and fails D1's (the check walks the
    # queue's path up to the root).
    pytest.param(
        Case(
            [8],
            {"p1": ("D1", 4)},
            [],
            [J("p2", "p1", 2), J("np4", "p1", 4, preemptible=False)],
            preempted=[],
            started=["p2"],
            departments={"D1": DepartmentQuota(2)},
        ),
        id="non-preemptible-within-department-quota",
    ),
    # item 5: non-preemptible jobs are never victims (getOrderedVictimsQueue,
    # FilterNonPreemptible). a deserves 4, runs a non-preemptible 4 and a preemptible 4;
    # b (deserves 4) asks for 4: fs 4 / 4, a holds 8 > 4: only the preemptible job goes.
    pytest.param(
        Case(
            [8],
            {"a": ("x", 4), "b": ("y", 4)},
            [J("fixed", "a", 4, preemptible=False), J("loose", "a", 4, at=-1.0)],
            [J("b1", "b", 4, at=1)],
            preempted=["loose"],
            started=["b1"],
        ),
        id="non-preemptible-job-is-never-a-victim",
    ),
]


# the same class of difference next door: KAI's allocate action and queue order
CASES += [
    # actions/allocate/allocate.go tries every pending job once: a job that cannot start
    # does not hold back its queue. C 8; b (deserves 4) runs 4; a (deserves 4) asks for 8
    # then 2. fs a min(4, 10) = 4, b 4, nothing left over. a's 8-GPU job cannot start and
    # may not reclaim (0 + 8 > 4, CanReclaimResources); its 2-GPU job then starts on the
    # 4 free GPUs (gpufleet used to stop a queue at its first blocked job).
    pytest.param(
        Case(
            [8],
            {"a": ("x", 4), "b": ("y", 4)},
            [J("b1", "b", 4)],
            [J("a8", "a", 8, at=1), J("a2", "a", 2, at=1)],
            preempted=[],
            started=["a2"],
        ),
        id="blocked-job-does-not-block-its-queue",
    ),
    # queue_order.go, GetQueueOrderResult: queue priority (prioritizePrioritized) comes
    # before the share (prioritizeSmallerResourceShare). C 4; a (priority 1) and b
    # (priority 0) deserve 0; a runs 2; each asks for 2, 2 GPUs are free. fs: bucket 1
    # first, a takes its whole request 4; b 0. Neither queue is over its fair share nor
    # within quota with its job, so a, of higher priority, goes first although its share
    # 2/4 is above b's 0; b may not reclaim (0 + 2 > 0).
    pytest.param(
        Case(
            [4],
            {"a": ("x", 0), "b": ("y", 0)},
            [J("a1", "a", 2)],
            [J("b1", "b", 2, at=1), J("a2", "a", 2, at=1)],
            preempted=[],
            started=["a2"],
            priorities={"a": 1},
        ),
        id="higher-priority-queue-first",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_kai_reclaims_as_kai_does(case: Case) -> None:
    h = Harness(
        "fifo",
        nodes=case.nodes,
        programs={n: (dept, 1.0, {H100: Quota(d)}) for n, (dept, d) in case.programs.items()},
    )
    jobs: dict[str, Job] = {}
    for j in case.running:  # an earlier cycle under plain FIFO puts them on the GPUs
        jobs[j.label] = h.submit(
            j.program, j.gpus, priority=j.priority, preemptible=j.preemptible, at=j.at
        )
    for name, prio in case.priorities.items():
        h.state.program_by_name[name].priority = prio
    h.cycle(0)
    assert len(h.running()) == len(case.running)
    for j in case.running:
        jobs[j.label].start_s = 0.0
    depts: dict[str, dict[str, DepartmentQuota]] | None = {
        d: {str(H100): q} for d, q in case.departments.items()
    } or None
    h.engine.policy = KaiScheduler(hierarchy=case.hierarchy, departments=depts)
    for j in case.pending:
        jobs[j.label] = h.submit(
            j.program, j.gpus, priority=j.priority, preemptible=j.preemptible, at=j.at
        )
    d = h.cycle(2)
    label: dict[int, str] = {job.spec.id: name for name, job in jobs.items()}
    assert sorted(label[v.spec.id] for v in d.preempt) == sorted(case.preempted)
    fresh = {jobs[j.label].spec.id for j in case.pending}
    assert sorted(label[i] for i in h.running() if i in fresh) == sorted(case.started)
