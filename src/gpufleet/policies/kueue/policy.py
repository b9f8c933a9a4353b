"""Kueue's admission semantics: flavors, fungibility, queueing strategies, preemption, fair sharing.

A program is a ClusterQueue; its GPU types, in the order its quotas list them and filtered by
the job's allowed types, are its flavors; a cohort is a (flat) Kueue cohort. Quota math is
:func:`gpufleet.policies.basic.quota.quota_check` (nominal, borrowingLimit, lendingLimit).
Sources, all on kueue.sigs.k8s.io:

- docs/concepts/cluster_queue/ "Flavor fungibility": flavors are tried in order. A flavor
  where j fits without borrowing is taken at once. One where it fits by borrowing is taken
  at once if ``whenCanBorrow: Borrow`` (default), else remembered (``TryNextFlavor``). One
  where it fits only by preempting is tried at once if ``whenCanPreempt: Preempt``, falling
  through to the next flavor when no victims suffice; else remembered (``TryNextFlavor``,
  default). After the last flavor the best remembered one is used: borrowing before
  preempting, earlier flavors first.
- docs/concepts/cluster_queue/ "Queueing strategy": within a ClusterQueue, jobs by priority
  then submit time. ``StrictFIFO``: a head that cannot be admitted blocks the jobs behind it.
  ``BestEffortFIFO`` (default): they are still tried.
- docs/concepts/cluster_queue/ "Preemption" and docs/concepts/preemption/: see
  :mod:`gpufleet.policies.kueue.preemption`. Kueue's defaults are all ``Never``.
- docs/concepts/fair_sharing/ and docs/concepts/preemption/ "Fair Sharing": heads are ordered
  by their program's share with the job admitted (lowest first), and preemption uses the
  share strategies; ``borrowWithinCohort`` is for classic preemption only.
- One cycle (scheduler "heads" and ordering): each round takes every program's head; without
  fair sharing, heads that need no borrowing go first, then higher priority, then earlier
  submit; rounds repeat until no program has a job left to try.
- docs/concepts/cohort/ "Hierarchical Cohorts" (Kueue v0.11+, KEP-79, KEP-1714): when the
  scenario declares a cohort tree (``cohorts:`` with parents or cohort quotas), the engine's
  cohort is the tree's root and quota, borrowing, reclaim and fair sharing follow the tree:
  :mod:`gpufleet.policies.kueue.tree` (quota at every level, shares, the root-to-leaves
  order of heads under fair sharing) and :mod:`gpufleet.policies.kueue.tree_preemption`.
  Without a tree (or a root alone without quota) everything above is unchanged.

Simplifications, said here so nobody mistakes them for Kueue: victims and preemptor change in
one cycle (Kueue waits for victims to terminate); placement on nodes is checked too (Kueue
admits on quota only); requeued jobs keep their submit time; each GPU type is its own
resource in shares (Kueue sums a resource over flavors); a cohort tree is fixed for the run
(quota changes apply to programs only); resource groups and admission checks are out of
scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import IntEnum, StrEnum
from functools import partial
from typing import ClassVar, TypeVar

from gpufleet.domain.reasons import Reason
from gpufleet.errors import InputError
from gpufleet.policies import ordering
from gpufleet.policies.base import BasePolicy, Decision, Refusals
from gpufleet.policies.basic.quota import CohortQuota, quota_check
from gpufleet.policies.kueue.preemption import (
    BorrowWithinCohort,
    FairStrategy,
    KueuePreemptor,
    ReclaimWithinCohort,
    WithinClusterQueue,
    place_on,
    share,
)
from gpufleet.policies.kueue.tree import TreeQuota
from gpufleet.policies.kueue.tree_preemption import TreePreemptor
from gpufleet.policies.options import FLAG, WHOLE_NUMBER, Options, one_of
from gpufleet.policies.placement import BestFit
from gpufleet.state.capacity import Placement
from gpufleet.state.cluster import CohortState
from gpufleet.state.jobs import Job, ProgramState
from gpufleet.state.snapshot import Snapshot


class WhenCanBorrow(StrEnum):
    BORROW = "Borrow"
    TRY_NEXT_FLAVOR = "TryNextFlavor"


class WhenCanPreempt(StrEnum):
    PREEMPT = "Preempt"
    TRY_NEXT_FLAVOR = "TryNextFlavor"


class QueueingStrategy(StrEnum):
    STRICT_FIFO = "StrictFIFO"
    BEST_EFFORT_FIFO = "BestEffortFIFO"


class Mode(IntEnum):
    """How a flavor can take a job, worst to best (Kueue's flavor assignment modes)."""

    NO_FIT = 0
    PREEMPT = 1
    BORROW = 2
    FIT = 3


E = TypeVar("E", bound=StrEnum)


def _word(enum: type[E], option: str, value: str) -> E:
    try:
        return enum(value)
    except ValueError:
        ok = ", ".join(e.value for e in enum)
        raise InputError(
            f"policy 'kueue' option {option!r} must be one of {ok}, got {value!r}"
        ) from None


def _strategies(value: str) -> tuple[FairStrategy, ...]:
    words = [w.strip() for w in value.split(",") if w.strip()]
    if not words:
        raise InputError("policy 'kueue' option 'fair_sharing_strategies' is empty")
    got = tuple(_word(FairStrategy, "fair_sharing_strategies", w) for w in words)
    # Kueue accepts these three lists only (pkg/config/validation.go, validStrategySets);
    # its search runs LessThanInitialShare as the second strategy and nothing else
    final, initial = (
        FairStrategy.LESS_THAN_OR_EQUAL_TO_FINAL_SHARE,
        FairStrategy.LESS_THAN_INITIAL_SHARE,
    )
    if got not in ((final,), (initial,), (final, initial)):
        raise InputError(
            "policy 'kueue' option 'fair_sharing_strategies' must be one of "
            f"{final.value}; {initial.value}; {final.value},{initial.value} (as Kueue "
            f"validates it), got {value!r}"
        )
    return got


class KueuePolicy(BasePolicy):
    """Kueue's ClusterQueue admission; the rules and their sources are in the module docstring."""

    name: ClassVar[str] = "kueue"
    summary: ClassVar[str] = (
        "Kueue admission: flavor fungibility, StrictFIFO/BestEffortFIFO, preemption, fair sharing"
    )
    shares_between_programs = True
    options: ClassVar[Options] = {
        "when_can_borrow": one_of("Borrow", "TryNextFlavor"),
        "when_can_preempt": one_of("Preempt", "TryNextFlavor"),
        "queueing_strategy": one_of("StrictFIFO", "BestEffortFIFO"),
        "within_cluster_queue": one_of("Never", "LowerPriority", "LowerOrNewerEqualPriority"),
        "reclaim_within_cohort": one_of("Never", "LowerPriority", "Any"),
        "borrow_within_cohort": one_of("Never", "LowerPriority"),
        "max_priority_threshold": WHOLE_NUMBER,
        "fair_sharing": FLAG,
        "fair_sharing_strategies": one_of(
            "LessThanOrEqualToFinalShare,LessThanInitialShare",
            "LessThanOrEqualToFinalShare",
            "LessThanInitialShare",
        ),
    }

    def __init__(
        self,
        when_can_borrow: str = "Borrow",
        when_can_preempt: str = "TryNextFlavor",
        queueing_strategy: str = "BestEffortFIFO",
        within_cluster_queue: str = "Never",
        reclaim_within_cohort: str = "Never",
        borrow_within_cohort: str = "Never",
        max_priority_threshold: int | None = None,
        fair_sharing: bool = False,
        fair_sharing_strategies: str = "LessThanOrEqualToFinalShare,LessThanInitialShare",
    ) -> None:
        super().__init__(CohortQuota(), BestFit())
        self.when_can_borrow = _word(WhenCanBorrow, "when_can_borrow", when_can_borrow)
        self.when_can_preempt = _word(WhenCanPreempt, "when_can_preempt", when_can_preempt)
        self.strict = (
            _word(QueueingStrategy, "queueing_strategy", queueing_strategy)
            is QueueingStrategy.STRICT_FIFO
        )
        reclaim = _word(ReclaimWithinCohort, "reclaim_within_cohort", reclaim_within_cohort)
        borrow = _word(BorrowWithinCohort, "borrow_within_cohort", borrow_within_cohort)
        if borrow is not BorrowWithinCohort.NEVER and reclaim is ReclaimWithinCohort.NEVER:
            raise InputError(
                "policy 'kueue': borrow_within_cohort needs reclaim_within_cohort other than Never"
            )
        if borrow is not BorrowWithinCohort.NEVER and fair_sharing:
            raise InputError(
                "policy 'kueue': borrow_within_cohort cannot be used with fair_sharing"
            )
        self.fair = _strategies(fair_sharing_strategies) if fair_sharing else None
        self.preemptor = KueuePreemptor(
            _word(WithinClusterQueue, "within_cluster_queue", within_cluster_queue),
            reclaim,
            borrow,
            max_priority_threshold,
            self.fair,
        )
        self.tree_preemptor = TreePreemptor(self.preemptor)
        self._trees: dict[str, tuple[CohortState, TreeQuota]] = {}
        self._tree: TreeQuota | None = None  # the tree of the cohort being scheduled
        # (preemptor id, victim id) of the last decision: Kueue names the preemptor in the
        # victim's Preempted condition; tests and explanations read it
        self.preemptions: list[tuple[int, int]] = []

    def decide(self, snap: Snapshot) -> Decision:
        self.preemptions = []
        return super().decide(snap)

    # --- one cohort: rounds of heads ------------------------------------------------------
    def schedule_cohort(self, snap: Snapshot, cohort: str, d: Decision) -> None:
        state = snap.cohort(cohort)
        self._tree = self._tree_of(state)
        streams = {p.index: _queue(p) for p in state.programs if p.pending}
        heads: dict[int, Job] = {}
        # Without preemption a refusal leaves the snapshot as it was: until something is
        # admitted, a job of the same ClusterQueue, GPUs and allowed types meets the same
        # quota checks and the same placements, so it is refused for the same reason
        refused = None if self.preemptor.enabled() else Refusals()
        # a round of one head is that queue's next job: once one ClusterQueue is left (and
        # no tree's tournament orders the heads) the rounds are its queue read in order
        simple = self._tree is None or self.fair is None
        while streams:
            if simple and len(streams) == 1:  # (no head is held between rounds)
                self._admit_queue(snap, next(iter(streams.values())), d, refused)
                return
            ordering.refill_heads(streams, heads)
            if not heads:
                return
            for job in self._in_order(heads):
                del heads[job.program.index]
                if not self._admit_once(snap, job, d, refused) and self.strict:
                    streams.pop(job.program.index, None)

    def _admit_queue(
        self, snap: Snapshot, jobs: Iterator[Job], d: Decision, refused: Refusals | None
    ) -> None:
        """One ClusterQueue's jobs in order, each through :meth:`_admit_once` (a StrictFIFO
        queue stops at its first refusal). Most jobs of a long queue are of a kind already
        refused this cycle: those are recorded here, without a call per job."""
        if refused is None:
            for job in jobs:
                if not self.admit(snap, job, d) and self.strict:
                    return
            return
        blocked = d.blocked
        for job in jobs:
            why = refused.known((job.program.index, job.spec.gpus, job.spec.gpu_types))
            if why is not None:
                blocked.append((job, why))
                refused_now = True
            else:
                refused_now = not self._admit_once(snap, job, d, refused)
            if refused_now and self.strict:
                return

    def _admit_once(self, snap: Snapshot, job: Job, d: Decision, refused: Refusals | None) -> bool:
        """:meth:`admit`, or the refusal already known for the job's kind (``refused``:
        None when preemption is on, where a refusal may differ job by job)."""
        if refused is None:
            return self.admit(snap, job, d)
        key = (job.program.index, job.spec.gpus, job.spec.gpu_types)
        return refused.attempt(job, d, key, partial(self.admit, snap, job, d))

    def _tree_of(self, state: CohortState) -> TreeQuota | None:
        """The cohort's tree over its programs, built once per cohort state (a policy
        object may serve several simulations)."""
        if state.tree is None:
            return None
        got = self._trees.get(state.name)
        if (
            got is None
            or got[0] is not state
            or got[1].tree is not state.tree
            or len(got[1].programs) != len(state.programs)
        ):
            got = self._trees[state.name] = (state, TreeQuota(state.tree, state.programs))
        return got[1]

    def _in_order(self, heads: dict[int, Job]) -> Iterator[Job]:
        """This round's heads in the order to try them. In a tree under fair sharing, one
        at a time from the root (each pick sees the admissions before it)."""
        tree = self._tree
        if tree is None or self.fair is None:
            if len(heads) == 1:  # one head: no key to compute
                yield from list(heads.values())
                return
            yield from sorted(heads.values(), key=self._head_key)
            return
        left = dict(heads)
        while left:
            job = tree.tournament(left.values(), _flavors)
            del left[job.program.index]
            yield job

    def _head_key(self, job: Job) -> tuple[float, int, float, int]:
        q, g = job.program, job.spec.gpus
        if self.fair is not None:
            first = min((share(q, {t: g}) for t in _flavors(job)), default=0.0)
        else:
            first = float(all(q.usage.get(t, 0) + g > q.nominal(t) for t in _flavors(job)))
        return (first, -job.spec.priority, job.spec.submit_s, job.spec.id)

    # --- one job: flavor assignment with fungibility --------------------------------------
    def admit(self, snap: Snapshot, job: Job, d: Decision) -> bool:
        borrow_at: tuple[str, Placement] | None = None
        preempt_at: list[str] = []
        reasons: list[Reason] = []
        for t in _flavors(job):
            mode, got = self._try_flavor(snap, job, t)
            if isinstance(got, Reason):
                reasons.append(got)
            if mode is Mode.FIT and isinstance(got, Placement):
                return self._start(snap, job, got, d)
            if mode is Mode.BORROW and isinstance(got, Placement):
                if self.when_can_borrow is WhenCanBorrow.BORROW:
                    return self._start(snap, job, got, d)
                borrow_at = borrow_at or (t, got)
            elif mode is Mode.PREEMPT:
                if self.when_can_preempt is WhenCanPreempt.PREEMPT:
                    if self._preempt(snap, job, t, d):
                        return True
                else:
                    preempt_at.append(t)
        if borrow_at is not None:
            return self._start(snap, job, borrow_at[1], d)
        for t in preempt_at:
            if self._preempt(snap, job, t, d):
                return True
        d.blocked.append((job, _reason(reasons)))
        return False

    def _try_flavor(self, snap: Snapshot, job: Job, t: str) -> tuple[Mode, Placement | Reason]:
        q, g = job.program, job.spec.gpus
        why = quota_check(q, t, g) if self._tree is None else self._tree.check(q, t, g)
        got: Placement | Reason = why if why is not None else place_on(snap, job, t)
        if isinstance(got, Placement):
            return (Mode.BORROW if q.usage.get(t, 0) + g > q.nominal(t) else Mode.FIT), got
        if got is Reason.NO_GPU_TYPE or not self.preemptor.enabled():
            return Mode.NO_FIT, got
        return Mode.PREEMPT, got

    def _preempt(self, snap: Snapshot, job: Job, t: str, d: Decision) -> bool:
        tree = self._tree
        if tree is not None and self.fair is not None:
            found = self.tree_preemptor.fair_sharing(snap, tree, job, t, self.fair)
        elif tree is not None:
            found = self.tree_preemptor.classic(snap, tree, job, t)
        elif self.fair is not None:
            found = self.preemptor.fair_sharing(snap, job, t, self.fair)
        else:
            found = self.preemptor.classic(snap, job, t)
        if found is None:
            return False
        victims, pl = found
        d.preempt.extend(victims)
        self.preemptions.extend((job.spec.id, v.spec.id) for v in victims)
        return self._start(snap, job, pl, d)

    @staticmethod
    def _start(snap: Snapshot, job: Job, pl: Placement, d: Decision) -> bool:
        snap.assume_start(job, pl)
        d.admit.append((job, pl))
        return True


def _flavors(job: Job) -> list[str]:
    """The program's GPU types in its quotas' order, those the job allows."""
    allowed = job.spec.gpu_types
    return [t for t in job.program.quotas if t in allowed]


def _queue(p: ProgramState) -> Iterator[Job]:
    """A ClusterQueue's order: priority, then submit time."""
    return ordering.by_priority([p])


def _reason(reasons: list[Reason]) -> Reason:
    """A quota refusal outranks a shortage of GPUs, as in BestFit; no flavor at all is QUOTA."""
    if not reasons:
        return Reason.QUOTA
    for r in reasons:
        if r in (Reason.QUOTA, Reason.BORROWING_LIMIT):
            return r
    if all(r is Reason.NO_GPU_TYPE for r in reasons):
        return Reason.NO_GPU_TYPE
    return next(r for r in reasons if r is not Reason.NO_GPU_TYPE)
