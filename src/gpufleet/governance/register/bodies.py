"""What a register write carries: strict models (unknown fields are errors), reusing the
scenario file's own models where the register holds the same thing (a site, a pool, a
milestone, a workload), so the API, the scenario file and the register agree."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from gpufleet.governance.store.models import RoleKind
from gpufleet.inputs.scenario.schema import (
    ByValue,
    CohortIn,
    CostIn,
    FailuresIn,
    GpuTypeIn,
    MilestoneIn,
    Name,
    NonNeg,
    NonNegInt,
    PolicyIn,
    PoolIn,
    Pos,
    SiteIn,
    Strict,
    When,
    WorkloadIn,
    exactly_one,
)

__all__ = [
    "EntityBody",
    "GroupBody",
    "PersonBody",
    "PlanBody",
    "PoolIn",
    "ProgramBody",
    "QuotaBody",
    "RoleBody",
    "SiteIn",
]


class PlanBody(Strict):
    """The plan's header: a scenario file's top-level keys other than the lists the
    register keeps in tables (sites, entities, pools, timeline) and variants."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str = ""
    start: When
    end: When | None = None
    horizon_days: Annotated[float, Field(gt=0, le=36_525)] | None = None
    seed: int = 0
    policy: str | PolicyIn = "quota"
    cost: CostIn = CostIn()
    failures: FailuresIn | None = None
    gpu_types: list[GpuTypeIn] = Field(default_factory=list)
    cohorts: list[CohortIn] = Field(default_factory=list)
    assumptions: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def one_end(self) -> PlanBody:
        exactly_one("end", self.end, "horizon_days", self.horizon_days)
        return self


class GroupBody(Strict):
    """A group of related entities and the rules its transfers follow."""

    name: Name
    related_threshold_usd: NonNeg = 1_000_000.0
    independent_approvals: Annotated[int, Field(ge=1, le=20)] = 2
    require_assessment: bool = True
    flag_below_fair_value: bool = True


class EntityBody(Strict):
    name: Name
    description: str = ""
    cohort: Name | None = None
    group: Name | None = None


class ProgramBody(Strict):
    name: Name
    entity: Name
    description: str = ""
    weight: Pos = 1.0
    priority: int = 0
    milestone: MilestoneIn | None = None
    workload: WorkloadIn | None = None


class QuotaBody(Strict):
    """A program's quota of a GPU type; ``effective`` empty: from the plan's start."""

    program: Name
    gpu_type: Annotated[str, Field(min_length=1, max_length=100)]
    effective: When | None = None
    nominal: NonNegInt
    borrowing_limit: NonNegInt | None = None
    lending_limit: NonNegInt | None = None


class PersonBody(Strict):
    name: Name
    email: Annotated[str, Field(max_length=200)] = ""


class RoleBody(Strict):
    person: Name
    entity: Name
    role: Annotated[RoleKind, ByValue]
