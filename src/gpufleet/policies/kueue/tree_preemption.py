"""Kueue's preemption in a cohort tree: classic (hierarchical reclaim) and fair sharing.

Sources: kueue.sigs.k8s.io "Preemption" (docs/concepts/preemption/: "Classic Preemption",
"Fair Sharing" with AlmostLCA for hierarchical cohorts); KEP-1714 "Fair Sharing" ("Choosing
ClusterQueues to preempt from", scenarios S1 and S2); KEP-79 "Hierarchical Cohorts"
("Preemptions and resource reclamation will happen among the whole cohort structure").
Notation of :mod:`gpufleet.policies.kueue.tree`; j is a job of program Q, g GPUs, type t.

**Candidates.** Q's own running jobs on t, by ``withinClusterQueue`` as in a flat cohort.
Other programs' jobs, when ``reclaimWithinCohort`` is not Never (its priority rule applies):
walking the levels L = parent(Q), ..., root, the programs in L's subtree, outside the part
below L already walked, reached through child cohorts that are borrowing on t and borrowing
themselves. A candidate found at level L is *hierarchical* when j fits the quota of Q's side
below L: ``U(Q) + g <= SQ(Q)``, or ``U(y) + r <= SQ(y)`` at a cohort y between Q and L, r
being what is left of g after the unused guaranteed quota ``max(0, G - U)`` of the nodes
below y (KEP-1714 S1: a sub-organization "still has enough resources to admit the workload
within its nominal quota", which makes reclaim "equivalent to reclaimWithinCohort").
Otherwise it is a *priority* candidate: taken while j borrows only with
``borrowWithinCohort: LowerPriority``, ``prio(v) < prio(j)`` and ``prio(v) <=
maxPriorityThreshold``; else only if j then fits within Q's nominal quota. A candidate of
program P found at level L stays valid while P and every cohort from P's parent up to (not
including) L are borrowing on t (KEP-1714: "we check whether both y and all cohorts on the
way up to AlmostLCA(y,x) are borrowing").

**Classic.** Candidates in the order hierarchical, priority, Q's own (each group: lower
priority first, then the most recently started). One run allows j to borrow, the other
does not; the runs, in order: only the borrowing one when there are no candidates of other
programs, or ``borrowWithinCohort`` is Never and Q already uses its nominal quota
(``usage(Q) >= nominal(Q)``: Kueue's "queue under nominal" test); no-borrowing then
borrowing when ``borrowWithinCohort`` is Never and no candidate is hierarchical; else
borrowing then no-borrowing (as Kueue orders them). A run takes valid candidates until j
fits, then puts back all it can (the minimal set).

**Fair sharing.** Candidates: Q's own, and the jobs of programs borrowing on t (by the
reclaim rule). The search is Kueue's (:mod:`gpufleet.policies.kueue.fair_search`), j's GPUs
counted in Q's usage, so in Q's side of every share, while it runs. Targets come from a walk
from the root, redone after every victim (Kueue's ``nextTarget``): at each cohort, the child
with the highest share among those with candidates left, dropping programs that do not
borrow (except Q) and cohorts that do not borrow off Q's path; a cohort beats a program on a
tie, a tie between programs goes to the one whose next candidate comes first. Q's own
candidates are taken as they come. For another program P, with ``A = AlmostLCA(Q, P)`` and
``B = AlmostLCA(P, Q)`` at that moment: ``LessThanOrEqualToFinalShare`` takes v if
``share(A) <= share(B without v)``, ``LessThanInitialShare`` if ``share(A) < share(B)``; a
refused candidate is kept for rule S2-b and P's next one is tried. When Q, j counted, stays
within its own nominal quota, candidates are taken without a strategy (Kueue's
``FairSharingPreemptWithinNominal``, on by default), even where Q's cohorts borrow.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from gpufleet.policies.kueue.fair_search import Drs, group, search
from gpufleet.policies.kueue.preemption import (
    BorrowWithinCohort,
    FairStrategy,
    KueuePreemptor,
    ReclaimWithinCohort,
    fill_back,
    place_on,
)
from gpufleet.policies.kueue.tree import Frame, TreeQuota
from gpufleet.state.capacity import Placement
from gpufleet.state.jobs import Job
from gpufleet.state.snapshot import Snapshot

Found = tuple[list[Job], Placement] | None


class Kind(IntEnum):
    """How a candidate may be taken, in the order classic preemption tries them."""

    HIERARCHICAL = 0
    WHILE_BORROWING = 1  # a priority candidate under borrowWithinCohort's threshold
    WITHOUT_BORROWING = 2  # a priority candidate: only if j stays within nominal
    OWN = 3


@dataclass(frozen=True)
class Candidate:
    job: Job
    kind: Kind
    lca: int  # the level where it was found (the preemptor's own node for OWN)


class TreePreemptor:
    """Victims for one job on one flavor in a cohort tree; see the module docstring."""

    def __init__(self, rules: KueuePreemptor) -> None:
        self.rules = rules

    # --- candidates -------------------------------------------------------------------
    def _eligible(self, snap: Snapshot, job: Job, v: Job, t: str) -> bool:
        if v.spec.id in snap.stopped or not v.spec.preemptible or v.placement is None:
            return False
        return snap.gpu_type_of(v.placement) == t and self.rules.may_take(job, v)

    def own(self, snap: Snapshot, tree: TreeQuota, job: Job, t: str) -> list[Candidate]:
        x = tree.node_of[job.program.index]
        out = [
            Candidate(v, Kind.OWN, x)
            for v in job.program.running.values()
            if self._eligible(snap, job, v, t)
        ]
        return sorted(out, key=lambda c: _order(job, c.job))

    def others(self, snap: Snapshot, tree: TreeQuota, job: Job, t: str) -> list[Candidate]:
        """Hierarchical then priority candidates, each group in Kueue's order."""
        if self.rules.reclaim is ReclaimWithinCohort.NEVER:
            return []
        frame = tree.frame()
        q = tree.node_of[job.program.index]
        g = job.spec.gpus
        advantage = frame.fits_within(q, t, g)
        left = max(0, g - frame.local_available(q, t))
        below = q
        found: list[Candidate] = []
        for level in tree.paths[q][1:]:
            for x in _borrowers(tree, frame, level, below, t):
                for v in tree.program(x).running.values():
                    if self._eligible(snap, job, v, t):
                        found.append(Candidate(v, self._kind(job, v, advantage), level))
            advantage = advantage or frame.fits_within(level, t, left)
            left = max(0, left - frame.local_available(level, t))
            below = level
        return sorted(found, key=lambda c: (c.kind is not Kind.HIERARCHICAL, _order(job, c.job)))

    def _kind(self, job: Job, v: Job, advantage: bool) -> Kind:
        if advantage:
            return Kind.HIERARCHICAL
        if self.rules.borrow is not BorrowWithinCohort.NEVER and self.rules.below_threshold(job, v):
            return Kind.WHILE_BORROWING
        return Kind.WITHOUT_BORROWING

    def _valid(self, tree: TreeQuota, c: Candidate, t: str, allow_borrow: bool) -> bool:
        if c.kind is Kind.OWN:
            return True
        if allow_borrow and c.kind is Kind.WITHOUT_BORROWING:
            return False
        frame = tree.frame()
        x = tree.node_of[c.job.program.index]
        while x != c.lca:
            if not frame.borrowing(x, t):
                return False
            x = tree.parent[x]
        return True

    @staticmethod
    def fits(
        snap: Snapshot, tree: TreeQuota, job: Job, t: str, allow_borrow: bool
    ) -> Placement | None:
        """j's quota in the tree and its GPUs on t, within Q's nominal unless allowed."""
        q, g = job.program, job.spec.gpus
        if tree.check(q, t, g) is not None:
            return None
        if not allow_borrow and q.usage.get(t, 0) + g > q.nominal(t):
            return None
        pl = place_on(snap, job, t)
        return pl if isinstance(pl, Placement) else None

    # --- classic ----------------------------------------------------------------------
    def classic(self, snap: Snapshot, tree: TreeQuota, job: Job, t: str) -> Found:
        others = self.others(snap, tree, job, t)
        cands = others + self.own(snap, tree, job, t)
        if not cands:
            return None
        q = job.program
        forbidden = self.rules.borrow is BorrowWithinCohort.NEVER
        at_nominal = q.usage.get(t, 0) >= q.nominal(t)  # Kueue: not "under nominal"
        hierarchical = any(c.kind is Kind.HIERARCHICAL for c in others)
        if not others or (forbidden and at_nominal):
            runs: tuple[bool, ...] = (True,)
        elif forbidden and not hierarchical:
            runs = (False, True)
        else:
            runs = (True, False)
        for allow in runs:
            got = self._run(snap, tree, job, t, cands, allow)
            if got is not None:
                return got
        return None

    def _run(
        self,
        snap: Snapshot,
        tree: TreeQuota,
        job: Job,
        t: str,
        cands: list[Candidate],
        allow_borrow: bool,
    ) -> Found:
        mark = snap.mark()
        chosen: list[Job] = []

        def fit() -> Placement | None:
            return self.fits(snap, tree, job, t, allow_borrow)

        for c in cands:
            if not self._valid(tree, c, t, allow_borrow):
                continue
            snap.assume_stop(c.job)
            chosen.append(c.job)
            if fit() is not None:
                return fill_back(snap, mark, chosen, fit)
        snap.undo_to(mark)
        return None

    # --- fair sharing -----------------------------------------------------------------
    def fair_sharing(
        self,
        snap: Snapshot,
        tree: TreeQuota,
        job: Job,
        t: str,
        strategies: tuple[FairStrategy, ...],
    ) -> Found:
        frame = tree.frame()
        found = self.own(snap, tree, job, t) + self._borrowing_others(snap, tree, frame, job, t)
        if not found:
            return None
        mark = snap.mark()
        chosen: list[Job] = []
        q, g = job.program, job.spec.gpus

        def fit() -> Placement | None:
            return self.fits(snap, tree, job, t, True)

        def take(v: Job) -> bool:
            # Kueue's workloadFitsForFairSharing: j's simulated usage out for the fit test
            snap.assume_stop(v)
            chosen.append(v)
            q.add_usage(t, -g)
            try:
                return fit() is not None
            finally:
                q.add_usage(t, g)

        side = _TreeSide(snap, tree, job, t)
        final_first = strategies[0] is FairStrategy.LESS_THAN_OR_EQUAL_TO_FINAL_SHARE
        within = q.usage.get(t, 0) + g <= q.nominal(t)  # the program only, not its cohorts
        q.add_usage(t, g)  # Kueue's SimulateUsageAddition: j counts in every share
        try:
            queues = group([c.job for c in found], side.key)
            ok = search(side, queues, final_first, len(strategies) > 1, take, within)
        finally:
            q.add_usage(t, -g)
        if ok:
            return fill_back(snap, mark, chosen, fit)
        snap.undo_to(mark)
        return None

    def _borrowing_others(
        self, snap: Snapshot, tree: TreeQuota, frame: Frame, job: Job, t: str
    ) -> list[Candidate]:
        """Jobs of the tree's other programs that borrow on t, by the reclaim rule."""
        if self.rules.reclaim is ReclaimWithinCohort.NEVER:
            return []
        out = []
        for p in tree.programs:
            x = tree.node_of[p.index]
            if p is job.program or not frame.borrowing(x, t):
                continue
            for v in p.running.values():
                if self._eligible(snap, job, v, t):
                    out.append(Candidate(v, Kind.HIERARCHICAL, 0))
        return sorted(out, key=lambda c: _order(job, c.job))


class _TreeSide:
    """A cohort tree for :func:`gpufleet.policies.kueue.fair_search.search` (j's usage is
    simulated in its program while the search runs): targets are program nodes, reached by
    Kueue's walk from the root (fairsharing/ordering.go ``nextTarget``), and shares are
    those of ``AlmostLCA(Q, P)`` and ``AlmostLCA(P, Q)`` (fairsharing/target.go)."""

    def __init__(self, snap: Snapshot, tree: TreeQuota, job: Job, t: str) -> None:
        self.snap = snap
        self.tree = tree
        self.job = job
        self.t = t
        self.preemptor = tree.node_of[job.program.index]
        self.on_path = set(tree.paths[self.preemptor][1:])

    def key(self, v: Job) -> int:
        return self.tree.node_of[v.program.index]

    def shares(self, x: int) -> tuple[Drs, Drs]:
        mine, theirs = self.tree.almost_lca(self.preemptor, x)
        frame = self.tree.frame()
        return frame.drs(mine), frame.drs(theirs)

    def share_after(self, x: int, v: Job) -> Drs:
        _, theirs = self.tree.almost_lca(self.preemptor, x)
        mark = self.snap.mark()
        self.snap.assume_stop(v)
        after = self.tree.frame().drs(theirs)
        self.snap.undo_to(mark)
        return after

    def next_target(self, queues: dict[int, list[Job]], pruned: set[int]) -> int | None:
        while 0 not in pruned:
            x = self._descend(0, self.tree.frame(), queues, pruned)
            if x is not None:
                return x
        return None

    def _descend(
        self, c: int, frame: Frame, queues: dict[int, list[Job]], pruned: set[int]
    ) -> int | None:
        """One level of ``nextTarget``: programs not borrowing (but Q) or without candidates
        and cohorts not borrowing off Q's path drop out; the highest share wins, a tie
        between programs going to the one whose next candidate comes first, a cohort
        winning a tie with a program."""
        tree = self.tree
        best_q, best_qs = -1, (0, -1.0)
        best_c, best_cs = -1, (0, -1.0)
        for x in tree.children[c]:
            if x in pruned:
                continue
            s = frame.drs(x)
            if tree.is_program(x):
                jobs = queues.get(x)
                if not jobs or (x != self.preemptor and not _borrows(frame, tree, x)):
                    pruned.add(x)
                elif s > best_qs or (
                    s == best_qs and _order(self.job, jobs[0]) < _order(self.job, queues[best_q][0])
                ):
                    best_q, best_qs = x, s
            elif x not in self.on_path and not _borrows(frame, tree, x):
                pruned.add(x)
            elif s > best_cs:
                best_c, best_cs = x, s
        if best_q < 0 and best_c < 0:
            pruned.add(c)
            return None
        if best_c >= 0 and best_cs >= best_qs:
            return self._descend(best_c, frame, queues, pruned)
        return best_q


def _borrows(frame: Frame, tree: TreeQuota, x: int) -> bool:
    """x uses more than its subtree quota of some type (Kueue's ``DRS.IsBorrowing``)."""
    return any(frame.borrowing(x, t) for t in tree.types())


def _borrowers(tree: TreeQuota, frame: Frame, level: int, skip: int, t: str) -> list[int]:
    """Programs under ``level``, outside ``skip``'s subtree, reached through borrowing
    cohorts and borrowing themselves."""
    out: list[int] = []
    for x in tree.children[level]:
        if x == skip or not frame.borrowing(x, t):
            continue
        if tree.is_program(x):
            out.append(x)
        else:
            out.extend(_borrowers(tree, frame, x, -1, t))
    return out


def _order(job: Job, v: Job) -> tuple[bool, int, float, int]:
    return (v.program is job.program, v.spec.priority, -v.start_s, -v.spec.id)
