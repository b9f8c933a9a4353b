"""The scenario: everything one simulation needs, as validated domain objects."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime

from gpufleet.domain.changes import QuotaChange, Transfer
from gpufleet.domain.fleet import NodePool, Site
from gpufleet.domain.gpus import GpuCatalog
from gpufleet.domain.ids import ProgramId
from gpufleet.domain.jobs import JobDraft
from gpufleet.domain.org import Cohort, CohortTree, Entity, Program, cohort_trees
from gpufleet.errors import UnknownNameError

OptionValue = float | int | str | bool


@dataclass(frozen=True)
class PolicySpec:
    """A policy by name and its options, sorted by key. Read from a scenario it has been
    checked once (``gpufleet.policies.registry.policy_spec``: known name, declared options,
    values of their types, the policy's own rules); every run builds a fresh policy from it
    without checking again (``build_policy``)."""

    name: str
    options: tuple[tuple[str, OptionValue], ...] = field(default=())

    def option(self, key: str, default: OptionValue) -> OptionValue:
        for k, v in self.options:
            if k == key:
                return v
        return default


@dataclass(frozen=True)
class CostModel:
    """What owning GPUs costs (formulas in docs/cost-model.md).

    *Flat* (``usd_per_gpu_hour`` set): every owned, delivered GPU costs that rate, whether
    it works, idles or sits stranded. *Itemized* (``usd_per_gpu_hour`` is None): capex
    (each pool's value over ``life_years``) for every owned GPU-hour, operations at
    ``ops_usd_per_gpu_hour``, and power at the site's $/kWh x board power x PUE: a powered
    GPU draws ``idle_power_fraction`` of its board power when idle, all of it when busy; a
    stranded GPU draws none but its capex and operations still run."""

    usd_per_gpu_hour: float | None = 2.0
    note: str = ""
    life_years: float = 4.0
    ops_usd_per_gpu_hour: float = 0.0
    idle_power_fraction: float = 0.3

    @property
    def itemized(self) -> bool:
        return self.usd_per_gpu_hour is None


@dataclass(frozen=True)
class FailureModel:
    """Node failures: each powered node fails at random, on average once every
    ``node_mtbf_hours`` (exponential times between failures), and is back
    ``repair_hours`` later. Jobs on a failing node lose the work since their last
    checkpoint and requeue. Failures are drawn from the run's seed."""

    node_mtbf_hours: float
    repair_hours: float


# A workload is a function of a seed that yields a program's jobs in submit order.
WorkloadFactory = Callable[[int], Iterator[JobDraft]]


@dataclass(frozen=True)
class Variant:
    """A named alternative to the base scenario: extra timeline changes, maybe a policy."""

    name: str
    description: str = ""
    transfers: tuple[Transfer, ...] = ()
    quota_changes: tuple[QuotaChange, ...] = ()
    policy: PolicySpec | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    start: datetime
    end: datetime
    seed: int
    catalog: GpuCatalog
    sites: tuple[Site, ...]
    pools: tuple[NodePool, ...]
    entities: tuple[Entity, ...]
    transfers: tuple[Transfer, ...]
    quota_changes: tuple[QuotaChange, ...]
    policy: PolicySpec
    cost: CostModel
    workloads: tuple[tuple[ProgramId, WorkloadFactory], ...]
    description: str = ""
    source_file: str = ""
    variants: tuple[Variant, ...] = ()
    failures: FailureModel | None = None
    assumptions: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    # declared Kueue cohorts (a tree when some have a parent); entities' cohorts are then
    # the roots of their trees and programs name the cohort they join
    cohorts: tuple[Cohort, ...] = ()

    def cohort_trees(self) -> list[CohortTree]:
        """The declared cohort trees with their programs, less those that are only a root
        without quotas (a flat cohort, scheduled as before)."""
        members = [(p.name, c) for p in self.programs() if (c := p.cohort) is not None]
        return [t for t in cohort_trees(self.cohorts, members) if not t.flat]

    def variant(self, name: str) -> Scenario:
        """The scenario with variant ``name`` applied (``base`` is the scenario itself)."""
        if name == "base":
            return self
        for v in self.variants:
            if v.name == name:
                return replace(
                    self,
                    name=f"{self.name} [{v.name}]",
                    transfers=self.transfers + v.transfers,
                    quota_changes=self.quota_changes + v.quota_changes,
                    policy=v.policy or self.policy,
                )
        raise UnknownNameError("variant", name, ["base", *[v.name for v in self.variants]])

    @property
    def horizon_s(self) -> float:
        return (self.end - self.start).total_seconds()

    def seconds(self, at: datetime) -> float:
        """Simulation time of an instant: seconds since the scenario's start."""
        return (at - self.start).total_seconds()

    def programs(self) -> list[Program]:
        return [p for e in self.entities for p in e.programs]

    def program(self, name: str) -> Program:
        for p in self.programs():
            if p.name == name:
                return p
        raise KeyError(name)

    def entity(self, name: str) -> Entity:
        for e in self.entities:
            if e.name == name:
                return e
        raise KeyError(name)
