"""A cohort as KAI's queue tree for one cycle: fair shares, quotas and limits per GPU type,
and the capacity checks a job passes before it may start (KAI's ``capacity_policy``).

Leaf queues are programs; their parent is their entity, KAI's department
(``hierarchy="entity"``), or one queue for the whole cohort (``hierarchy="flat"``). A
department's deserved quota, limit and over-quota weight are its own where the policy is
given them (:class:`~gpufleet.policies.kai.fairshare.DepartmentQuota`), else summed from its
programs (:func:`~gpufleet.policies.kai.fairshare.parent_of`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from gpufleet.domain.reasons import Reason
from gpufleet.policies.kai.fairshare import DepartmentQuota, QueueShare, divide_tree, parent_of
from gpufleet.state.capacity import Placement
from gpufleet.state.cluster import CohortState
from gpufleet.state.jobs import Job, ProgramState
from gpufleet.state.snapshot import Snapshot

_INF = Fraction(10**18)

# entity (department) name -> GPU type -> its own attributes
Departments = Mapping[str, Mapping[str, DepartmentQuota]]


@dataclass(frozen=True)
class Node:
    """One queue of the tree on one GPU type: what the division and the checks read."""

    fair: Fraction
    deserved: int
    limit: int | None
    # ResourceShare.GetAllocatableShare: min(limit, max(deserved, fair)); set once
    allocatable: Fraction = field(init=False)

    def __post_init__(self) -> None:
        top = max(Fraction(self.deserved), self.fair)
        share = top if self.limit is None else min(Fraction(self.limit), top)
        object.__setattr__(self, "allocatable", share)


_NONE = Node(Fraction(0), 0, 0)


@dataclass
class FairShares:
    """The tree of one cohort for one cycle, by GPU type: programs by index, parents by
    name. ``parent`` maps a program index to its parent's name."""

    leaf: dict[str, dict[int, Node]] = field(default_factory=dict)
    top: dict[str, dict[str, Node]] = field(default_factory=dict)
    parent: dict[int, str] = field(default_factory=dict)

    def leaf_node(self, p: ProgramState, t: str) -> Node:
        return self.leaf.get(t, {}).get(p.index, _NONE)

    def parent_node(self, name: str, t: str) -> Node:
        return self.top.get(t, {}).get(name, _NONE)

    def leaf_fs(self, p: ProgramState, t: str) -> Fraction:
        return self.leaf_node(p, t).fair

    def parent_fs(self, name: str, t: str) -> Fraction:
        return self.parent_node(name, t).fair


def cohort_capacity(snap: Snapshot, cohort: str) -> dict[str, int]:
    cap = snap.capacity
    return {
        t: sum(cap.groups[g].usable_gpus for g in gs)
        for t, gs in cap.by_cohort_type.get(cohort, {}).items()
    }


def demand(c: CohortState, types: dict[str, int]) -> dict[int, dict[str, int]]:
    """GPUs requested per program and type: running on it, plus pending whose first
    allowed type the cohort has (a job counts once, not on every type it allows)."""
    out: dict[int, dict[str, int]] = {}
    for p in c.programs:
        r = dict(p.usage)
        # the program's pending GPUs by allowed types (ProgramState.pending_gpus), each
        # allowed-types tuple resolved once: the same integer sums as job by job
        for allowed, gpus in p.pending_gpus.items():
            t = next((x for x in allowed if x in types), None)
            if t is not None:
                r[t] = r.get(t, 0) + gpus
        out[p.index] = r
    return out


def leaf_queue(p: ProgramState, t: str, usage: Fraction, want: int) -> QueueShare:
    q = p.quotas.get(t)
    if q is None:  # no quota entry for the type: the program may not use it
        return QueueShare(str(p.index), 0, Fraction(0), p.priority, 0, 0, p.index)
    limit = None if q.borrowing_limit_gpus is None else q.nominal_gpus + q.borrowing_limit_gpus
    w = Fraction(p.weight)
    return QueueShare(str(p.index), q.nominal_gpus, w, p.priority, limit, want, p.index, usage)


def share_inputs(
    c: CohortState,
    capacity: dict[str, int],
    usage: dict[int, Fraction],
    wants: dict[int, dict[str, int]],
) -> tuple[object, ...]:
    """Everything of the cohort that :func:`fair_shares` reads, as one comparable value
    (the policy's own options aside): per GPU type the capacity, and per program, in
    program order, its index, entity, creation rank, priority, weight, usage, and its
    quota and demand on each type. Equal inputs give equal shares, so a cycle whose inputs
    equal the last one's may keep its shares."""
    types = tuple(capacity)
    return (
        tuple(capacity.items()),
        tuple(
            (
                p.index,
                p.entity,
                p.entity_index,
                p.priority,
                p.weight,
                usage[p.index],
                tuple(p.quotas.get(t) for t in types),
                tuple(wants[p.index].get(t, 0) for t in types),
            )
            for p in c.programs
        ),
    )


def fair_shares(
    c: CohortState,
    capacity: dict[str, int],
    flat: bool,
    usage: dict[int, Fraction],
    departments: Departments | None = None,
    k_value: Fraction = Fraction(1),
    wants: dict[int, dict[str, int]] | None = None,
) -> FairShares:
    """The two-level division for every GPU type of the cohort; ``usage``: each program's
    normalised decayed usage (time-aware fairness; 0 without it); ``wants``: the cohort's
    :func:`demand`, when the caller has it already."""
    fs = FairShares()
    if wants is None:
        wants = demand(c, capacity)
    groups: dict[str, list[ProgramState]] = {}
    for p in c.programs:
        name = "cohort" if flat else "entity:" + p.entity
        groups.setdefault(name, []).append(p)
        fs.parent[p.index] = name
    own = {} if flat or departments is None else departments
    for t, cap in capacity.items():
        parents = []
        for name, ps in groups.items():
            mine = own.get(name.removeprefix("entity:"), {}).get(t)
            kids = [leaf_queue(p, t, usage[p.index], wants[p.index].get(t, 0)) for p in ps]
            parents.append(parent_of(name, 0, kids, mine, min(p.entity_index for p in ps)))
        got = divide_tree(cap, parents, k_value)
        fs.top[t] = {
            p.queue.name: Node(got[p.queue.name], p.queue.deserved, p.queue.limit) for p in parents
        }
        fs.leaf[t] = {
            int(k.name): Node(got[k.name], k.deserved, k.limit) for p in parents for k in p.children
        }
    return fs


def ratio(alloc: int | Fraction, share: Fraction) -> Fraction:
    """``fairShareSaturationRatio``: allocated over fair share, infinite over a zero share."""
    if alloc == 0:
        return Fraction(0)
    return _INF if share <= 0 else alloc / share


class KaiAdmission:
    """``capacity_policy`` of KAI's proportion plugin, per GPU type: a job may use type t if
    its program has a quota entry for t and neither its queue nor its department goes over
    its limit (queues README: "Limit: hard cap"); a non-preemptible job only while the
    non-preemptible GPUs of its queue and of its department stay within their deserved quota
    (``quota_check.go``, ``isAllocatedNonPreemptibleOverQuota``). ``shares``, ``programs``
    and ``fixed`` (non-preemptible GPUs per program and type) are set per cohort, and with
    them ``members``: each parent's programs, in program order."""

    def __init__(self) -> None:
        self.shares = FairShares()
        self.programs: list[ProgramState] = []
        self.fixed: dict[tuple[int, str], int] = {}
        self.members: dict[str, list[ProgramState]] = {}

    def reset(self, snap: Snapshot, shares: FairShares, programs: list[ProgramState]) -> None:
        self.shares, self.programs, self.fixed = shares, programs, {}
        self.members = {}
        for p in programs:
            name = shares.parent.get(p.index)
            if name is not None:
                self.members.setdefault(name, []).append(p)
        for j in snap.running_in(programs):
            if not j.spec.preemptible and j.placement is not None:
                key = (j.program.index, snap.gpu_type_of(j.placement))
                self.fixed[key] = self.fixed.get(key, 0) + j.spec.gpus

    def started(self, snap: Snapshot, job: Job, placement: Placement) -> None:
        """Count a non-preemptible job the cycle has just started."""
        if not job.spec.preemptible:
            key = (job.program.index, snap.gpu_type_of(placement))
            self.fixed[key] = self.fixed.get(key, 0) + job.spec.gpus

    def department_of(self, p: ProgramState) -> list[ProgramState]:
        """The programs under ``p``'s parent (``p`` among them), in program order."""
        name = self.shares.parent.get(p.index)
        if name is None:  # not a program of the cohort: those without a parent, as ever
            return [q for q in self.programs if q.index not in self.shares.parent]
        return self.members.get(name, [])

    def check(self, snap: Snapshot, job: Job, gpu_type: str) -> Reason | None:
        p, g, t = job.program, job.spec.gpus, gpu_type
        q = p.quotas.get(t)
        if q is None:
            return Reason.QUOTA
        lim = q.borrowing_limit_gpus
        if lim is not None and p.usage.get(t, 0) + g > q.nominal_gpus + lim:
            return Reason.BORROWING_LIMIT
        dept = self.department_of(p)
        node = self.shares.parent_node(self.shares.parent.get(p.index, ""), t)
        used = sum(x.usage.get(t, 0) for x in dept)
        if dept and node.limit is not None and used + g > node.limit:
            return Reason.BORROWING_LIMIT
        if job.spec.preemptible:
            return None
        if self.fixed.get((p.index, t), 0) + g > q.nominal_gpus:
            return Reason.QUOTA
        if dept and sum(self.fixed.get((x.index, t), 0) for x in dept) + g > node.deserved:
            return Reason.QUOTA
        return None
