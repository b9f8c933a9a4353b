"""The scenario file's shape, as strict pydantic models: unknown keys are errors.

The reference for every key is ``docs/scenario-format.md``; this module is its source of
truth for types and bounds. Cross-references (a pool's site exists, a transfer's pool holds
enough GPUs, ...) are checked in :mod:`gpufleet.scenario.load`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

Pos = Annotated[float, Field(gt=0)]
NonNeg = Annotated[float, Field(ge=0)]
PosInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
When = date | datetime


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GpuTypeIn(Strict):
    name: Name
    throughput: Pos
    board_power_w: Pos
    server_power_w: Pos
    price_usd: NonNeg
    memory_gb: PosInt = 80
    source: str = ""


class CostIn(Strict):
    usd_per_gpu_hour: NonNeg = 2.0
    note: str = ""


class PolicyIn(Strict):
    name: str
    options: dict[str, int | float | str | bool] = {}


class ReadyIn(Strict):
    date: When
    power_kw: Pos
    note: str = ""


class SiteIn(Strict):
    name: Name
    power_kw: Pos
    pue: Annotated[float, Field(ge=1.0, le=3.0)] = 1.3
    electricity_usd_per_kwh: NonNeg = 0.08
    ready: list[ReadyIn] = []
    description: str = ""


class QuotaIn(Strict):
    nominal: NonNegInt
    borrowing_limit: NonNegInt | None = None
    lending_limit: NonNegInt | None = None


class MilestoneIn(Strict):
    name: str
    gpu_hours: Pos
    due: When


class Lognormal(Strict):
    median: Pos
    sigma: NonNeg


class DurationDist(Strict):
    lognormal: Lognormal | None = None
    choices: list[Pos] | None = None
    weights: list[Pos] | None = None
    min: Pos | None = None
    max: Pos | None = None

    @model_validator(mode="after")
    def one_kind(self) -> DurationDist:
        if (self.lognormal is None) == (self.choices is None):
            raise ValueError("give exactly one of 'lognormal' or 'choices'")
        if self.weights is not None and (
            self.choices is None or len(self.weights) != len(self.choices)
        ):
            raise ValueError("'weights' needs 'choices' of the same length")
        return self


class GpuDist(Strict):
    choices: list[PosInt]
    weights: list[Pos] | None = None

    @model_validator(mode="after")
    def same_length(self) -> GpuDist:
        if not self.choices:
            raise ValueError("'choices' must list at least one GPU count")
        if self.weights is not None and len(self.weights) != len(self.choices):
            raise ValueError(
                f"'weights' has {len(self.weights)} entries but 'choices' has {len(self.choices)}"
            )
        return self


class GeneratorIn(Strict):
    jobs_per_day: Pos
    gpus: PosInt | GpuDist
    duration_hours: Pos | DurationDist
    start: When | None = None
    end: When | None = None
    gpu_types: list[str] | None = None
    priority: int = 0
    preemptible: bool = True
    checkpoint_hours: Pos | None = None
    name: str = ""


class JobIn(Strict):
    name: str = ""
    submit: When
    gpus: PosInt
    duration_hours: Pos | None = None
    gpu_hours: Pos | None = None
    gpu_types: list[str] | None = None
    priority: int = 0
    preemptible: bool = True
    checkpoint_hours: Pos | None = None
    count: PosInt = 1
    every_hours: NonNeg = 0.0

    @model_validator(mode="after")
    def one_size(self) -> JobIn:
        if (self.duration_hours is None) == (self.gpu_hours is None):
            raise ValueError("give exactly one of 'duration_hours' or 'gpu_hours'")
        return self


class TraceIn(Strict):
    path: str
    format: str = "csv"
    gpu_types: list[str] | None = None
    time_offset_hours: float = 0.0


class WorkloadIn(Strict):
    generator: GeneratorIn | None = None
    generators: list[GeneratorIn] = []
    jobs: list[JobIn] = []
    trace: TraceIn | None = None


class ProgramIn(Strict):
    name: Name
    description: str = ""
    weight: Pos = 1.0
    priority: int = 0
    quotas: dict[str, QuotaIn] = {}
    milestone: MilestoneIn | None = None
    workload: WorkloadIn | None = None


class EntityIn(Strict):
    name: Name
    cohort: Name | None = None
    description: str = ""
    programs: list[ProgramIn] = []


class PoolIn(Strict):
    name: Name
    site: str
    gpu_type: str
    gpus_per_node: PosInt = 8
    nodes: PosInt
    owner: str
    delivered: When | None = None
    value_usd: NonNeg | None = None
    nvlink_domain_gpus: PosInt = 8
    nodes_per_rack: PosInt = 4
    note: str = ""


class TransferIn(Strict):
    name: str = ""
    pool: str
    gpus: PosInt
    from_entity: str | None = None
    to_entity: str = Field(alias="to")
    from_program: str | None = None
    to_program: str | None = None
    start: When
    end: When | None = None
    price_usd: NonNeg = 0.0
    to_site: str | None = None
    note: str = ""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class QuotaChangeIn(Strict):
    at: When
    program: str
    gpu_type: str
    nominal: NonNegInt
    borrowing_limit: NonNegInt | None = None
    lending_limit: NonNegInt | None = None


class TimelineItem(Strict):
    transfer: TransferIn | None = None
    quota: QuotaChangeIn | None = None
    note: str = ""

    @model_validator(mode="after")
    def exactly_one(self) -> TimelineItem:
        if (self.transfer is None) == (self.quota is None):
            raise ValueError("a timeline item holds exactly one of 'transfer' or 'quota'")
        return self


class VariantIn(Strict):
    description: str = ""
    timeline: list[TimelineItem] = []
    policy: str | PolicyIn | None = None


class ScenarioIn(Strict):
    name: str
    description: str = ""
    start: When
    end: When | None = None
    horizon_days: Pos | None = None
    seed: int = 0
    policy: str | PolicyIn = "quota"
    cost: CostIn = CostIn()
    gpu_types: list[GpuTypeIn] = []
    sites: list[SiteIn]
    entities: list[EntityIn]
    pools: list[PoolIn]
    timeline: list[TimelineItem] = []
    variants: dict[str, VariantIn] = {}
    assumptions: list[str] = []
    sources: list[str] = []

    @model_validator(mode="after")
    def one_end(self) -> ScenarioIn:
        if (self.end is None) == (self.horizon_days is None):
            raise ValueError("give exactly one of 'end' or 'horizon_days'")
        return self
