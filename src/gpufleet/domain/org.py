"""Organisations: entities (companies), their programs, quotas and milestones.

Quota semantics follow Kueue's ClusterQueue resource groups (kueue.sigs.k8s.io, "Cluster
Queue" concept page): ``nominal`` GPUs are the program's own; it may use up to
``borrowing_limit`` more from the cohort's unused quota (``None``: no limit); at most
``lending_limit`` of its unused nominal quota may be lent to others (``None``: all of it).

Cohorts may form trees (Kueue's Cohort API, v0.11+; kueue.sigs.k8s.io "Cohort" concept page,
"Hierarchical Cohorts"; KEP-79): a :class:`Cohort` may name a parent and hold quota of its
own, with the same three numbers meaning the same for its whole subtree. A
:class:`CohortTree` is one such tree with the programs (ClusterQueues) that join its cohorts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from gpufleet.domain.ids import CohortId, EntityId, GpuTypeName, ProgramId


@dataclass(frozen=True)
class Quota:
    nominal_gpus: int
    borrowing_limit_gpus: int | None = None
    lending_limit_gpus: int | None = None

    @property
    def lendable_gpus(self) -> int:
        """The part of the nominal quota others may borrow."""
        if self.lending_limit_gpus is None:
            return self.nominal_gpus
        return min(self.lending_limit_gpus, self.nominal_gpus)

    @property
    def guaranteed_gpus(self) -> int:
        """The part of the nominal quota nobody else can ever use."""
        return self.nominal_gpus - self.lendable_gpus


@dataclass(frozen=True)
class Milestone:
    """A program's milestone: ``gpu_hours`` of work (at reference speed) done by ``due``."""

    name: str
    gpu_hours: float
    due: datetime


@dataclass(frozen=True)
class Program:
    """A line of work inside an entity (e.g. "FSD training"); it is one scheduling queue."""

    name: ProgramId
    entity: EntityId
    quotas: tuple[tuple[GpuTypeName, Quota], ...] = field(default=())
    weight: float = 1.0
    priority: int = 0
    milestone: Milestone | None = None
    description: str = ""
    # the Kueue cohort its ClusterQueue joins, when the scenario declares a cohort tree
    # (None: its entity's cohort, flat as before)
    cohort: CohortId | None = None

    def quota(self, gpu_type: GpuTypeName) -> Quota | None:
        for name, q in self.quotas:
            if name == gpu_type:
                return q
        return None


@dataclass(frozen=True)
class Entity:
    """A company. Its nodes are scheduled only for programs of the same ``cohort``: two
    companies share hardware only if the scenario puts them in one cohort."""

    name: EntityId
    cohort: CohortId
    programs: tuple[Program, ...] = field(default=())
    description: str = ""


@dataclass(frozen=True)
class Cohort:
    """A Kueue Cohort object: ``parent`` None makes it a tree's root; ``quotas`` are the
    cohort's own (nominal GPUs shared by its subtree, and the subtree's borrowing and
    lending limits toward the rest of the tree); ``weight`` is its fairSharing weight."""

    name: CohortId
    parent: CohortId | None = None
    quotas: tuple[tuple[GpuTypeName, Quota], ...] = field(default=())
    weight: float = 1.0
    description: str = ""

    def quota(self, gpu_type: str) -> Quota | None:
        for name, q in self.quotas:
            if name == gpu_type:
                return q
        return None


@dataclass(frozen=True)
class CohortTree:
    """One tree: ``cohorts`` root first, every cohort after its parent; ``members`` the
    cohort each program (ClusterQueue) joins. Built by :func:`cohort_trees`."""

    cohorts: tuple[Cohort, ...]
    members: tuple[tuple[ProgramId, CohortId], ...] = field(default=())

    @property
    def root(self) -> CohortId:
        return self.cohorts[0].name

    @property
    def flat(self) -> bool:
        """Only a root without quotas: a plain flat cohort."""
        return len(self.cohorts) == 1 and not self.cohorts[0].quotas


def root_of(name: CohortId, cohorts: dict[CohortId, Cohort]) -> CohortId:
    """The root of ``name``'s tree (``name`` itself when undeclared); assumes no cycle."""
    while name in cohorts and cohorts[name].parent is not None:
        parent = cohorts[name].parent
        assert parent is not None
        name = parent
    return name


def cohort_trees(
    cohorts: Iterable[Cohort], members: Iterable[tuple[ProgramId, CohortId]]
) -> list[CohortTree]:
    """Group validated cohorts (parents declared, no cycles) into trees, in the order of
    their roots; each program goes to the tree of its cohort."""
    by_name = {c.name: c for c in cohorts}
    children: dict[CohortId | None, list[Cohort]] = {}
    for c in by_name.values():
        children.setdefault(c.parent, []).append(c)
    trees = []
    for root in children.get(None, []):
        order = [root]
        for c in order:  # breadth-first: every cohort after its parent
            order.extend(children.get(c.name, []))
        names = {c.name for c in order}
        mine = tuple((p, c) for p, c in members if c in names)
        trees.append(CohortTree(tuple(order), mine))
    return trees
