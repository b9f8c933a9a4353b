"""The ``kueue`` policy's fair-sharing preemption against Kueue's own search (issue 17 items
6-8), each situation written out and its victims worked by hand from Kueue's source
(kubernetes-sigs/kueue at ff69552, pkg/scheduler/preemption/):

- preemption.go ``fairPreemptions``: the incoming workload is added to its ClusterQueue's
  usage before any share is computed (``SimulateUsageAddition``);
- preemption.go ``runFirstFsStrategy``: the target ClusterQueue is picked anew, shares
  recomputed, after every victim; a candidate that fails the first strategy goes to the
  retry list and the *same* queue's next candidate is tried;
- preemption.go ``runSecondFsStrategy``: rule S2-b, LessThanInitialShare, at most one
  victim per queue;
- fairsharing/ordering.go ``nextTarget``: the highest share first, a tie to the queue whose
  first candidate comes first by common/ordering.go ``CandidatesOrdering`` (other queues'
  workloads first, lower priority, most recent quota reservation, then UID);
- common/preemption_policy.go ``SatisfiesPreemptionPolicy``: LowerOrNewerEqualPriority
  needs the candidate strictly newer (``preemptorTS.Before(candidateTS)``).

Shares: ``share(q) = max(0, usage - nominal) / pool / weight`` with ``pool`` the cohort's
lendable GPUs (every program lends all of its nominal here). Nodes have 1 GPU, so a job
spans nodes and only quota binds, as in Kueue (which admits on quota).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from gpufleet.domain.org import Quota
from gpufleet.errors import InputError
from gpufleet.policies.kueue.policy import KueuePolicy
from gpufleet.state.jobs import Job, JobState
from tests.support.builders import H100, Harness
from tests.support.kueue_trees import build, cohort


@dataclass(frozen=True)
class Run:
    """A job submitted at ``at`` and started in that cycle (or, ``finish``, ended then)."""

    name: str
    program: str
    gpus: int
    priority: int = 0
    at: float = 0.0


@dataclass(frozen=True)
class Case:
    programs: dict[str, tuple[int, float]]  # name: (nominal GPUs, fair-sharing weight)
    running: list[Run]
    incoming: Run
    victims: list[str]  # expected, by name, in Kueue's order of taking
    options: dict[str, Any] = field(default_factory=dict)
    finish: list[str] = field(default_factory=list)  # running jobs ending before incoming


def _play(case: Case) -> tuple[list[str], Job]:
    programs: dict[str, tuple[str, float, dict[str, Quota]]] = {
        n: ("org", w, {H100: Quota(nominal)}) for n, (nominal, w) in case.programs.items()
    }
    total = sum(nominal for nominal, _ in case.programs.values())
    h = Harness("fifo", nodes=[1] * total, programs=programs)
    h.state.repower("dc", 0.0)
    opts: dict[str, Any] = {"fair_sharing": True, "reclaim_within_cohort": "Any"} | case.options
    h.engine.policy = KueuePolicy(**opts)
    jobs: dict[str, Job] = {}
    for r in case.running:
        jobs[r.name] = h.submit(r.program, r.gpus, priority=r.priority, at=r.at)
        h.cycle(r.at)
        assert jobs[r.name].state is JobState.RUNNING, r
    t = case.incoming.at
    for name in case.finish:
        h.finish(jobs[name], t)
    j = h.submit(case.incoming.program, case.incoming.gpus, priority=case.incoming.priority, at=t)
    by_id = {v.spec.id: n for n, v in jobs.items()}
    d = h.cycle(t)
    return [by_id[v.spec.id] for v in d.preempt], j


# --- item 6: a candidate refused by the first strategy; the same queue's next is tried ---

ITEM_6 = {
    # Cohort {a: nominal 4, b: 4, c: 8 idle}, weights 1, no borrowing limits: pool 16.
    # b runs b0 (4, t=0) and b1 (8, t=1): share (12-4)/16 = 0.5. a submits 8 (t=2): with
    # it (8-4)/16 = 0.25; 4 GPUs free. Candidates of b, newest first: b1, b0.
    # LessThanOrEqualToFinalShare: b1 leaves b at 0, 0.25 <= 0 fails -> retry list; Kueue
    # tries b0 next: b at (8-4)/16 = 0.25, 0.25 <= 0.25 passes -> b0 goes, 8 free, fits.
    "le-final-share-alone-takes-the-next-candidate": Case(
        programs={"a": (4, 1.0), "b": (4, 1.0), "c": (8, 1.0)},
        running=[Run("b0", "b", 4, at=0), Run("b1", "b", 8, at=1)],
        incoming=Run("j", "a", 8, at=2),
        victims=["b0"],
        options={"fair_sharing_strategies": "LessThanOrEqualToFinalShare"},
    ),
    # The same with the default (both strategies): the first strategy already finds b0,
    # so S2-b (which would take b1: 0.25 < 0.5) is never reached.
    "default-strategies-take-the-smaller-victim": Case(
        programs={"a": (4, 1.0), "b": (4, 1.0), "c": (8, 1.0)},
        running=[Run("b0", "b", 4, at=0), Run("b1", "b", 8, at=1)],
        incoming=Run("j", "a", 8, at=2),
        victims=["b0"],
    ),
    # A lower-priority candidate first: b1 (8, priority 0, t=1) before b0 (4, priority 1,
    # t=0). b1 fails as above; b0 passes (0.25 <= 0.25) and goes.
    "priority-order-then-the-next-candidate": Case(
        programs={"a": (4, 1.0), "b": (4, 1.0), "c": (8, 1.0)},
        running=[Run("b0", "b", 4, priority=1, at=0), Run("b1", "b", 8, at=1)],
        incoming=Run("j", "a", 8, priority=2, at=2),
        victims=["b0"],
        options={"fair_sharing_strategies": "LessThanOrEqualToFinalShare"},
    ),
}


@pytest.mark.parametrize("case", list(ITEM_6.values()), ids=list(ITEM_6))
def test_a_refused_candidate_does_not_drop_its_queue(case: Case) -> None:
    victims, j = _play(case)
    assert victims == case.victims
    assert j.state is JobState.RUNNING


# --- item 7: the incoming job counts in its queue's share, recomputed after each victim ---

ITEM_7 = {
    # Cohort {a: nominal 4, b: 6}, weights 1: pool 10. a runs a0 (3, priority 0); b runs
    # b0 (4, t=1) and b1 (3, t=2): b borrows 1, share 1/10 = 0.1. No GPU free. j (a, 4 GPUs,
    # priority 1) with withinClusterQueue LowerPriority.
    # With j, a's share is (7-4)/10 = 0.3 > 0.1: a is the first target, its own a0 goes
    # (3 free: j does not fit). Recomputed: a with j = 4, within nominal, share 0; b 0.1 is
    # the target, new share 0: b1 (newest) leaves b at 0, 0 <= 0 passes -> b1 goes, 6 free,
    # fits. Fill-back: a0 back leaves 3 free, no. Victims a0 and b1. (Without the
    # recomputation a's share stays 0.3: 0.3 <= 0 and 0.3 < 0.1 fail, j stays pending.)
    "own-victim-lowers-the-preemptor-share-then-reclaim": Case(
        programs={"a": (4, 1.0), "b": (6, 1.0)},
        running=[Run("a0", "a", 3, at=0), Run("b0", "b", 4, at=1), Run("b1", "b", 3, at=2)],
        incoming=Run("j", "a", 4, priority=1, at=3),
        victims=["a0", "b1"],
        options={"within_cluster_queue": "LowerPriority"},
    ),
    # The same without own candidates (withinClusterQueue Never): a's share with j stays
    # 0.3; b1 and b0 both leave b at 0 (0.3 <= 0 fails), S2-b 0.3 < 0.1 fails: pending.
    "no-own-candidate-no-reclaim": Case(
        programs={"a": (4, 1.0), "b": (6, 1.0)},
        running=[Run("a0", "a", 3, at=0), Run("b0", "b", 4, at=1), Run("b1", "b", 3, at=2)],
        incoming=Run("j", "a", 4, priority=1, at=3),
        victims=[],
    ),
}


@pytest.mark.parametrize("case", list(ITEM_7.values()), ids=list(ITEM_7))
def test_the_incoming_job_counts_in_its_queue_share(case: Case) -> None:
    victims, j = _play(case)
    assert victims == case.victims
    assert (j.state is JobState.RUNNING) == bool(case.victims)


# --- item 8: ties between otherwise equal workloads and queues ---------------------------

ITEM_8 = {
    # Cohort {a, b, c: nominal 4 each}, pool 12. a runs a0 (6, t=0), b runs b0 (6, t=1):
    # both borrow 2, share 2/12. c submits 4 (within nominal, share 0). Tie between a and
    # b -> the queue whose first candidate comes first: same priority, b0 reserved quota
    # later -> b. b0 leaves b at 0: 0 <= 0 passes -> b0 goes, 6 free, fits. (Listing
    # order would have taken a0.)
    "equal-shares-newest-candidate-first": Case(
        programs={"a": (4, 1.0), "b": (4, 1.0), "c": (4, 1.0)},
        running=[Run("a0", "a", 6, at=0), Run("b0", "b", 6, at=1)],
        incoming=Run("j", "c", 4, at=2),
        victims=["b0"],
    ),
    # Equal shares, a0 of lower priority than b0: a's candidate comes first -> a0.
    "equal-shares-lower-priority-first": Case(
        programs={"a": (4, 1.0), "b": (4, 1.0), "c": (4, 1.0)},
        running=[Run("a0", "a", 6, at=0), Run("b0", "b", 6, priority=1, at=1)],
        incoming=Run("j", "c", 4, priority=2, at=2),
        victims=["a0"],
    ),
    # Equal shares, equal start: both candidates reserved quota at t=0, the same second;
    # Kueue then compares UIDs (random); gpufleet takes the higher job id (b0) first.
    "equal-everything-higher-id-first": Case(
        programs={"a": (4, 1.0), "b": (4, 1.0), "c": (4, 1.0)},
        running=[Run("a0", "a", 6, at=0), Run("b0", "b", 6, at=0)],
        incoming=Run("j", "c", 4, at=1),
        victims=["b0"],
    ),
}


@pytest.mark.parametrize("case", list(ITEM_8.values()), ids=list(ITEM_8))
def test_ties_follow_kueue_candidate_order(case: Case) -> None:
    victims, _ = _play(case)
    assert victims == case.victims


@pytest.mark.parametrize(
    ("v_at", "preempted"),
    [
        # v submitted with j (t=0): same priority, same time, not newer -> no victim
        pytest.param(0.0, False, id="same-submit-time-not-newer"),
        # v submitted after j (t=0.5): newer, equal priority -> a candidate, taken
        pytest.param(0.5, True, id="later-submit-is-newer"),
    ],
)
def test_lower_or_newer_equal_priority_needs_a_strictly_later_submit(
    v_at: float, preempted: bool
) -> None:
    # Program a (nominal 8), classic preemption, withinClusterQueue
    # LowerOrNewerEqualPriority, BestEffortFIFO. w (4) runs from t=-1. j (8) is submitted
    # at t=0 and v (4) at v_at, both priority 0, j first: j does not fit, v does. w ends at
    # t=1; j needs v's 4 GPUs. Kueue's SatisfiesPreemptionPolicy takes v only if
    # preemptorTS.Before(candidateTS): never at equal times (gpufleet used to break that
    # tie by job id, making v "newer").
    h = Harness("fifo", nodes=[1] * 8, programs={"a": ("org", 1.0, {H100: Quota(8)})})
    h.state.repower("dc", 0.0)
    h.engine.policy = KueuePolicy(
        within_cluster_queue="LowerOrNewerEqualPriority", queueing_strategy="BestEffortFIFO"
    )
    w = h.submit("a", 4, at=-1.0)
    h.cycle(-1.0)
    j = h.submit("a", 8, at=0.0)
    v = h.submit("a", 4, at=v_at)
    h.cycle(v_at)
    assert v.state is JobState.RUNNING and j.state is not JobState.RUNNING
    h.finish(w, 1.0)
    assert [x.spec.id for x in h.cycle(1.0).preempt] == ([v.spec.id] if preempted else [])
    assert (j.spec.id in h.running()) == preempted


@pytest.mark.parametrize(
    "strategies",
    [
        "LessThanInitialShare,LessThanOrEqualToFinalShare",
        "LessThanInitialShare,LessThanInitialShare",
    ],
)
def test_only_kueue_strategy_lists_are_accepted(strategies: str) -> None:
    # pkg/config/validation.go validStrategySets: [LTEFS], [LTIS], [LTEFS, LTIS]
    with pytest.raises(InputError, match="as Kueue validates it"):
        KueuePolicy(fair_sharing=True, fair_sharing_strategies=strategies)


# --- the same search in a cohort tree (tree_preemption.py) ---------------------------------


@pytest.mark.parametrize(
    ("within", "victims"),
    [
        # Root c (no quota) with cohorts org1 {a: nominal 4} and org2 {b: nominal 6}:
        # potential(c) = 10. a runs a0 (3), b runs b0 (4, t=1) and b1 (3, t=2): org2 borrows
        # 1, share 0.1; nothing free. j (a, 4, priority 1). With j, org1's share (7-4)/10 =
        # 0.3 > 0.1: the walk goes to org1, then a, whose own a0 goes (3 free). Recomputed:
        # org1 with j = 4, share 0; org2 0.1 -> b; AlmostLCA(a, b) = org1 (0) against org2:
        # b1 leaves org2 at 0, 0 <= 0 -> b1 goes, 6 free, fits; a0 cannot come back.
        pytest.param("LowerPriority", ["a0", "b1"], id="own-victim-then-reclaim"),
        # No own candidate: org1 stays at 0.3: 0.3 <= 0 and 0.3 < 0.1 fail, j waits.
        pytest.param("Never", [], id="no-own-candidate"),
    ],
)
def test_tree_counts_the_incoming_job_and_recomputes(within: str, victims: list[str]) -> None:
    h, _ = build(
        [cohort("org1"), cohort("org2")],
        {"a": ("org1", Quota(4)), "b": ("org2", Quota(6))},
        nodes=[1] * 10,
        fair_sharing=True,
        reclaim_within_cohort="Any",
        within_cluster_queue=within,
    )
    jobs = {}
    for name, prog, gpus, at in (("a0", "a", 3, 0.0), ("b0", "b", 4, 1.0), ("b1", "b", 3, 2.0)):
        jobs[name] = h.submit(prog, gpus, at=at)
        h.cycle(at)
    j = h.submit("a", 4, priority=1, at=3.0)
    by_id = {v.spec.id: n for n, v in jobs.items()}
    assert [by_id[v.spec.id] for v in h.cycle(3.0).preempt] == victims
    assert (j.spec.id in h.running()) == bool(victims)


def test_tree_tries_the_next_candidate_of_a_refused_program() -> None:
    # Item 6 in a tree: root c with cohorts A {a: 4}, B {b: 4} and C {c: 8, idle}:
    # potential(root) = 16. b runs b0 (4, t=0), b1 (8, t=1): B's share (12-4)/16 = 0.5.
    # j (a, 8): A with j (8-4)/16 = 0.25, 4 free. LessThanOrEqualToFinalShare: b1 leaves
    # B at 0 (refused), b0 leaves B at 0.25, 0.25 <= 0.25 -> b0 goes, 8 free, fits.
    h, _ = build(
        [cohort("A"), cohort("B"), cohort("C")],
        {"a": ("A", Quota(4)), "b": ("B", Quota(4)), "c": ("C", Quota(8))},
        nodes=[1] * 16,
        fair_sharing=True,
        reclaim_within_cohort="Any",
        fair_sharing_strategies="LessThanOrEqualToFinalShare",
    )
    b0 = h.submit("b", 4, at=0.0)
    h.cycle(0.0)
    h.submit("b", 8, at=1.0)
    h.cycle(1.0)
    h.submit("a", 8, at=2.0)
    assert [v.spec.id for v in h.cycle(2.0).preempt] == [b0.spec.id]


def test_tree_preemptor_within_its_nominal_takes_without_a_strategy() -> None:
    # FairSharingPreemptWithinNominal (Beta, on since Kueue 0.17; preemption.go
    # runFirstFsStrategy). Root c (no quota), org1 {a: 4, a2: 0}, org2 {b: 2}, 6 GPUs:
    # potential(root) = 6. b runs b0 (2, t=0) and b1 (2, t=1): org2 borrows 2, share 2/6;
    # a2 runs x (1, t=2): a2 borrows. 1 GPU free. j (a, 4): a with j = 4 <= 4, within
    # nominal, while org1 with j = 5 > 4 borrows, share 1/6. LessThanOrEqualToFinalShare
    # alone. The walk: org2 (2/6) before org1 (1/6); b1 (newest) first.
    # With the gate: b1 goes without a strategy (3 free); org2 no longer borrows; org1 ->
    # a2: x goes (4 free), fits; b1 cannot come back. Victims b1, x.
    # Without it: A = org1 at 1/6 <= org2 without b1 (0) fails, b0 too; then a2's x
    # (AlmostLCA a at 0 <= anything) goes, 2 free, no fit: j would wait.
    h, _ = build(
        [cohort("org1"), cohort("org2")],
        {"a": ("org1", Quota(4)), "a2": ("org1", Quota(0)), "b": ("org2", Quota(2))},
        nodes=[1] * 6,
        fair_sharing=True,
        reclaim_within_cohort="Any",
        fair_sharing_strategies="LessThanOrEqualToFinalShare",
    )
    named = {}
    for name, prog, gpus, at in (("b0", "b", 2, 0.0), ("b1", "b", 2, 1.0), ("x", "a2", 1, 2.0)):
        named[name] = h.submit(prog, gpus, at=at)
        h.cycle(at)
        assert named[name].state is JobState.RUNNING, name
    j = h.submit("a", 4, at=3.0)
    by_id = {v.spec.id: n for n, v in named.items()}
    assert [by_id[v.spec.id] for v in h.cycle(3.0).preempt] == ["b1", "x"]
    assert j.spec.id in h.running()
