"""Hierarchical cohorts (Kueue's Cohort API, v0.11+): quota, borrowing and shares in a tree.

Sources: kueue.sigs.k8s.io "Cohort" (docs/concepts/cohort/: "Configuring Quotas",
"Hierarchical Cohorts"); KEP-79 "Hierarchical Cohorts" and KEP-1714 "Fair Sharing"
(github.com/kubernetes-sigs/kueue, keps/79-hierarchical-cohorts, keps/1714-fair-sharing);
"Preemption" (docs/concepts/preemption/, "Fair Sharing").

**Quota.** Per GPU type t, the nodes of a tree are its cohorts and its ClusterQueues
(programs); each has ``nominal``, ``borrowingLimit`` BL and ``lendingLimit`` LL. A cohort's
nominal quota is "additional resources on top of those defined by ClusterQueues within the
Cohort", a pool shared by its subtree that may be lent to the parent "subject to
LendingLimit"; its BL bounds what the whole subtree borrows from the rest of the tree and
its LL what the rest may borrow from the subtree (KEP-79). For a ClusterQueue
``SQ(x) = nominal(x)`` and ``U(x) = usage(x)``; for a cohort::

    SQ(x) = nominal(x) + sum_children c (SQ(c) - G(c))      subtree quota
    U(x)  = sum_children c max(0, U(c) - G(c))               usage that reaches x
    G(x)  = max(0, SQ(x) - LL(x)), or 0 without LL            kept for x's own subtree

``SQ(x) - U(x)`` is KEP-79's balance ``T(x)`` (``T(q) = quota - usage``,
``T(x) = quota(x) + sum min(LL(c), T(c))``), and a job may start iff afterwards
``T(x) >= -BL(x)`` at every node (``>= 0`` at the root): only nodes on the job's path change.
Equivalently a job of g GPUs fits program q iff ``g <= available(q)`` with::

    available(root) = SQ - U
    available(x)    = max(0, G(x) - U(x)) + max(0, min(available(parent),
                                   SQ(x) - G(x) - max(0, U(x) - G(x)) + BL(x)))

(the ``min`` only where BL is set; the outer ``max`` only matters once quotas shrank below
usage: a job within a node's guaranteed part never needs its parent). In a one-level tree
this is :func:`gpufleet.policies.basic.quota.quota_check` exactly. A node is *borrowing* when
``U(x) > SQ(x)``. A job that does not fit waits ``over-borrowing-limit`` when its program
or a cohort on its path would pass ``SQ + BL`` (KEP-79's ``T(x) < -BL(x)``), else
``waiting-for-quota``: a limit outranks a short pool, as in the flat check.

**Fair sharing** (KEP-1714 "Share value function and weights"): the share of a node x with
a parent, with e_t GPUs added to its usage, is::

    share(x) = max_t max(0, U(x) + e_t - SQ(x)) / potential(parent(x), t)  / weight(x)

with ``potential(y, t)`` = ``available(y)`` when nothing runs (at the root SQ: the flat
cohort's pool). Decisions go "from root-to-leaves" (KEP-1714): a cohort's next head is that
of its child with the lowest share taken with that head's GPUs (a child cohort offering its
own winner); ties go to higher priority, then earlier submit.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable

from gpufleet.domain.org import CohortTree, Quota
from gpufleet.domain.reasons import Reason
from gpufleet.state.jobs import Job, ProgramState

# SQ, U, G and the borrowing limit (None: none) per node, for one GPU type
Levels = tuple[list[int], list[int], list[int], list[int | None]]


class TreeQuota:
    """One cohort tree over the live programs of its engine cohort. Nodes ``0..C-1`` are
    the cohorts (root 0, each after its parent), ``C..`` the programs in engine order."""

    def __init__(self, tree: CohortTree, programs: list[ProgramState]) -> None:
        self.tree = tree
        cohorts = tree.cohorts
        self.n_cohorts = c = len(cohorts)
        index: dict[str, int] = {str(k.name): i for i, k in enumerate(cohorts)}
        self.parent = [index[k.parent] if k.parent is not None else -1 for k in cohorts]
        self.cohort_quotas: list[dict[str, Quota]] = [dict(k.quotas) for k in cohorts]
        self.cohort_weight = [k.weight for k in cohorts]
        self.programs = list(programs)
        joined: dict[str, str] = {str(p): str(k) for p, k in tree.members}
        self.node_of: dict[int, int] = {}
        for i, p in enumerate(self.programs):
            self.node_of[p.index] = c + i
            self.parent.append(index.get(joined.get(p.name, tree.root), 0))
        # per GPU type: the programs' (usage, quota) the levels were computed from, and them
        self._levels: dict[str, tuple[tuple[tuple[int, Quota | None], ...], Levels]] = {}
        self.children: list[list[int]] = [[] for _ in range(c)]
        for x in range(1, len(self.parent)):
            self.children[self.parent[x]].append(x)
        self.paths = [self._path(x) for x in range(len(self.parent))]

    def _path(self, x: int) -> list[int]:
        out = [x]
        while self.parent[out[-1]] >= 0:
            out.append(self.parent[out[-1]])
        return out

    # --- the tree ----------------------------------------------------------------------
    def program(self, x: int) -> ProgramState:
        return self.programs[x - self.n_cohorts]

    def is_program(self, x: int) -> bool:
        return x >= self.n_cohorts

    def weight(self, x: int) -> float:
        return self.cohort_weight[x] if x < self.n_cohorts else self.program(x).weight

    def types(self) -> list[str]:
        """Every GPU type some node has a quota for (programs' quotas may change)."""
        seen = {t for q in self.cohort_quotas for t in q}
        seen.update(t for p in self.programs for t in p.quotas)
        return sorted(seen)

    def almost_lca(self, x: int, y: int) -> tuple[int, int]:
        """(AlmostLCA(x, y), AlmostLCA(y, x)): the last nodes before the lowest common
        ancestor on the paths from x and from y (the Preemption page, "Fair Sharing")."""
        px, py = self.paths[x], self.paths[y]
        above = set(py)
        i = next(i for i, n in enumerate(px) if n in above)
        return px[i - 1], py[py.index(px[i]) - 1]

    # --- quantities --------------------------------------------------------------------
    def frame(self) -> Frame:
        return Frame(self)

    def check(self, q: ProgramState, t: str, g: int) -> Reason | None:
        """None when a job of g GPUs of type t fits q's quota in the tree (module
        docstring); else BORROWING_LIMIT when it would take q past its own limit or a
        cohort on its path past its ``SQ + BL`` (:meth:`over_limit`), QUOTA otherwise.
        A limit outranks a short pool, as in :func:`gpufleet.policies.basic.quota.quota_check`."""
        quota = q.quotas.get(t)
        if quota is None:
            return Reason.QUOTA
        limit = quota.borrowing_limit_gpus
        if limit is not None and q.usage.get(t, 0) + g > quota.nominal_gpus + limit:
            return Reason.BORROWING_LIMIT
        x = self.node_of[q.index]
        if g <= self.reach(x, t, True):
            return None
        return Reason.BORROWING_LIMIT if self.over_limit(x, t, g) else Reason.QUOTA

    def over_limit(self, x: int, t: str, g: int) -> bool:
        """Whether g more GPUs of type t at node x would take a cohort y on x's path past
        its borrowing limit: ``U(y) + r(y) > SQ(y) + BL(y)`` with ``r(y) > 0`` the part of
        the g that reaches y, ``r(parent(z)) = max(0, U(z) + r(z) - G(z)) - max(0, U(z) -
        G(z))`` (unused guaranteed quota below y absorbs the rest). The root has no limit
        (Kueue refuses one), as in :meth:`reach`."""
        sq, u, g_kept, bl = self.levels(t)
        r = g
        for z, y in itertools.pairwise(self.paths[x]):
            r = max(0, u[z] + r - g_kept[z]) - max(0, u[z] - g_kept[z])
            if r == 0:
                return False
            limit = bl[y]
            if limit is not None and self.parent[y] >= 0 and u[y] + r > sq[y] + limit:
                return True
        return False

    def tournament(self, heads: Iterable[Job], flavors: Callable[[Job], list[str]]) -> Job:
        """The head to try next: root-to-leaves, lowest share with the head's GPUs."""
        at = {self.node_of[j.program.index]: j for j in heads}
        got = self._best(0, at, self.frame(), flavors)
        assert got is not None, "a tournament needs at least one head"
        return got[1]

    def _best(
        self, c: int, at: dict[int, Job], frame: Frame, flavors: Callable[[Job], list[str]]
    ) -> tuple[tuple[float, int, float, int], Job] | None:
        found: tuple[tuple[float, int, float, int], Job] | None = None
        for x in self.children[c]:
            if self.is_program(x):
                job = at.get(x)
            else:
                sub = self._best(x, at, frame, flavors)
                job = sub[1] if sub is not None else None
            if job is None:
                continue
            g = job.spec.gpus
            s = min((frame.share(x, {t: g}) for t in flavors(job)), default=0.0)
            key = (s, -job.spec.priority, job.spec.submit_s, job.spec.id)
            if found is None or key < found[0]:
                found = (key, job)
        return found

    def levels(self, t: str) -> Levels:
        """SQ, U and G of every node for type t, recomputed only when some program's usage
        or quota of t changed since the last call (a cycle checks many heads at one state)."""
        key = tuple([(p.usage.get(t, 0), p.quotas.get(t)) for p in self.programs])
        got = self._levels.get(t)
        if got is None or got[0] != key:
            got = self._levels[t] = (key, self._compute(t))
        return got[1]

    def reach(self, x: int, t: str, used: bool) -> int:
        """available(x) of the module docstring; with ``used`` False, as if nothing ran."""
        sq, u, g, bl = self.levels(t)
        path = self.paths[x]
        root = path[-1]
        got = sq[root] - (u[root] if used else 0)
        for y in reversed(path[:-1]):
            uy = u[y] if used else 0
            limit = bl[y]
            if limit is not None:
                got = min(got, sq[y] - g[y] - max(0, uy - g[y]) + limit)
            got = max(0, g[y] - uy) + max(0, got)  # a guaranteed part never needs more
        return got

    def _compute(self, t: str) -> Levels:
        n, c = len(self.parent), self.n_cohorts
        sq, u, g = [0] * n, [0] * n, [0] * n
        bl: list[int | None] = [None] * n
        for x in range(c):
            q = self.cohort_quotas[x].get(t)
            if q is not None:
                sq[x], bl[x] = q.nominal_gpus, q.borrowing_limit_gpus
        for i, p in enumerate(self.programs):
            q = p.quotas.get(t)
            if q is not None:
                sq[c + i], u[c + i], g[c + i] = q.nominal_gpus, p.usage.get(t, 0), q.guaranteed_gpus
                bl[c + i] = q.borrowing_limit_gpus
        # children before parents: programs, then cohorts bottom-up (each after its parent)
        for x in [*range(c, n), *range(c - 1, 0, -1)]:
            if x < c:
                q = self.cohort_quotas[x].get(t)
                limit = q.lending_limit_gpus if q is not None else None
                g[x] = max(0, sq[x] - limit) if limit is not None else 0
            parent = self.parent[x]
            sq[parent] += sq[x] - g[x]
            u[parent] += max(0, u[x] - g[x])
        return sq, u, g, bl


class Frame:
    """The tree's quantities at the current usage (module docstring); cheap to take, as the
    tree keeps its levels until usage or quotas change."""

    __slots__ = ("tree",)

    def __init__(self, tree: TreeQuota) -> None:
        self.tree = tree

    def levels(self, t: str) -> Levels:
        return self.tree.levels(t)

    def available(self, x: int, t: str) -> int:
        """GPUs of type t that x can still take, every limit on its path applied."""
        return self.tree.reach(x, t, True)

    def potential(self, x: int, t: str) -> int:
        """What x could take of type t if nothing ran (Kueue's potential available)."""
        return self.tree.reach(x, t, False)

    def borrowing(self, x: int, t: str) -> bool:
        sq, u, _, _ = self.levels(t)
        return u[x] > sq[x]

    def fits_within(self, x: int, t: str, g: int) -> bool:
        """g more GPUs keep x within its subtree quota (Kueue's QuantitiesFitInQuota)."""
        sq, u, _, _ = self.levels(t)
        return u[x] + g <= sq[x]

    def local_available(self, x: int, t: str) -> int:
        """x's unused guaranteed quota: what it takes without reaching its parent."""
        _, u, g, _ = self.levels(t)
        return max(0, g[x] - u[x])

    def share(self, x: int, extra: dict[str, int] | None = None) -> float:
        """The share of the module docstring, ``extra`` GPUs per type added to x's usage:
        0 when x does not borrow whatever its weight, infinite when it borrows with weight
        0 (Kueue's ``PreciseWeightedShare``, pkg/cache/scheduler/fair_sharing.go)."""
        zero_weight, value = self.drs(x, extra)
        return math.inf if zero_weight else value

    def drs(self, x: int, extra: dict[str, int] | None = None) -> tuple[int, float]:
        """The share in Kueue's ``CompareDRS`` order (a zero-weight borrower above all
        others, two of them by unweighted share): see
        :data:`gpufleet.policies.kueue.fair_search.Drs`."""
        tree = self.tree
        parent = tree.parent[x]
        if parent < 0:
            return (0, 0.0)
        worst = 0.0
        for t in tree.types():
            sq, u, _, _ = self.levels(t)
            over = u[x] + (extra or {}).get(t, 0) - sq[x]
            if over > 0:
                pool = self.potential(parent, t)
                worst = max(worst, over / pool if pool > 0 else math.inf)
        if worst == 0:
            return (0, 0.0)
        weight = tree.weight(x)
        return (1, worst) if weight <= 0 else (0, worst / weight)
