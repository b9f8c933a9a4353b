"""Organisations: entities (companies), their programs, quotas and milestones.

Quota semantics follow Kueue's ClusterQueue resource groups (kueue.sigs.k8s.io, "Cluster
Queue" concept page): ``nominal`` GPUs are the program's own; it may use up to
``borrowing_limit`` more from the cohort's unused quota (``None``: no limit); at most
``lending_limit`` of its unused nominal quota may be lent to others (``None``: all of it).
"""

from __future__ import annotations

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
