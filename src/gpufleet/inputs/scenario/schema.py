"""The scenario file's shape, as strict pydantic models: unknown keys are errors.

The reference for every key is ``docs/scenario-format.md``; this module is its source of
truth for types and bounds. Cross-references (a pool's site exists, a transfer's pool holds
enough GPUs, ...) are checked in :mod:`gpufleet.inputs.scenario.load`.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic import Strict as StrictMode
from pydantic_core import PydanticCustomError

from gpufleet.inputs.scenario import bounds

Pos = Annotated[float, Field(gt=0)]
NonNeg = Annotated[float, Field(ge=0)]
PosInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]

ByValue = StrictMode(False)
"""An enum field of a :class:`Strict` model that takes the enum's value (``"officer"``):
``Annotated[RoleKind, ByValue]``. JSON has no enums, and strict models want instances."""

WHEN_EXPECTED = (
    "an ISO date string such as 2024-07-02, or a date and time such as 2024-07-02T10:00:00 "
    "(an offset such as -10:00 is kept)"
)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d")
_DATE: TypeAdapter[date] = TypeAdapter(date)
_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)


def _instant(v: object) -> object:
    """What a :data:`When` accepts, decided before pydantic's ``date | datetime`` union:

    - a date or datetime object (a YAML file's ``2024-07-02`` is one already);
    - an ISO date string ``YYYY-MM-DD``: a date;
    - an ISO date-and-time string: a datetime, its offset kept (pydantic's union would
      make ``2024-07-02T00:00:00-10:00`` the date 2024-07-02, dropping the offset);
    - nothing else: a number (a unix time?) or a string of digits is refused, where
      pydantic's lax mode would read it as seconds since 1970."""
    if isinstance(v, date):
        return v
    if not isinstance(v, str):
        raise PydanticCustomError(
            "date_type",
            "Input should be an ISO date string, not {kind}",
            {"kind": type(v).__name__, "expected": WHEN_EXPECTED},
        )
    text = v.strip()
    if _ISO_DATE.fullmatch(text):
        return _parsed(_DATE, text, "date_parsing")
    if _ISO_DATETIME.match(text):
        return _parsed(_DATETIME, text, "datetime_parsing")
    raise PydanticCustomError(
        "date_parsing",
        "Input should be an ISO date (YYYY-MM-DD) or date and time (YYYY-MM-DDTHH:MM)",
        {"expected": WHEN_EXPECTED},
    )


def _parsed(adapter: TypeAdapter[date] | TypeAdapter[datetime], text: str, kind: str) -> date:
    try:
        return adapter.validate_python(text, strict=False)
    except ValidationError as e:
        reason = str(e.errors()[0]["msg"])
        raise PydanticCustomError(
            kind, "{reason}", {"reason": reason, "expected": WHEN_EXPECTED}
        ) from None


When = Annotated[date | datetime, BeforeValidator(_instant)]
"""A day or an instant. Dates are midnight UTC; a time with an offset keeps it."""


class KeyProblem(ValueError):
    """A check on a whole mapping that blames some of its keys.

    pydantic places a model validator's error at the mapping; the loader moves it to the
    key of ``keys`` that the file gives last (for "both given"), or, when the file gives
    none of them, reports the first as missing (see
    :mod:`gpufleet.inputs.scenario.pydantic_errors`).
    """

    def __init__(self, message: str, expected: str, keys: tuple[str, ...]) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.keys = keys


def exactly_one(a: str, a_value: object, b: str, b_value: object) -> None:
    """Raise :class:`KeyProblem` unless exactly one of keys ``a`` and ``b`` has a value."""
    expected = f"exactly one of {a!r} or {b!r}"
    if a_value is not None and b_value is not None:
        raise KeyProblem(f"both {a!r} and {b!r} are given", expected, (a, b))
    if a_value is None and b_value is None:
        raise KeyProblem(f"neither {a!r} nor {b!r} is given", expected, (a, b))


_SURROGATE = re.compile("[\ud800-\udfff]")


def _bad_text(v: object) -> str | None:
    """Why a string in ``v`` (or in its items, keys and values) cannot be stored; None if
    every one can."""
    if isinstance(v, str):
        if "\x00" in v:
            return "contains a NUL character (U+0000)"
        if _SURROGATE.search(v):
            return "contains a lone surrogate (U+D800 to U+DFFF), which is not text"
        return None
    if isinstance(v, list | tuple):
        return next((w for x in v if (w := _bad_text(x))), None)
    if isinstance(v, dict):
        return next((w for k, x in v.items() if (w := _bad_text(k) or _bad_text(x))), None)
    return None


class Strict(BaseModel):
    """The base of every input model: unknown keys are errors, and types are strict
    (``"gpus": "8"`` is not an integer, ``true`` is not 1, ``1720000000`` is not a date).
    Files validate with ``model_validate(..., strict=False)``: YAML spells some numbers
    as text (``1e6``); JSON bodies are held to the letter. Enum fields take their values
    (:data:`ByValue`); dates and times are :data:`When`'s."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, v: object) -> object:
        # a NUL has no business in a name or a note, and PostgreSQL's text cannot hold one
        # (SQLite's can); a lone surrogate is not text at all and cannot be encoded:
        # refused here, so the store behaves the same on both backends
        why = _bad_text(v)
        if why:
            raise ValueError(why)
        return v


class GpuTypeIn(Strict):
    name: Name
    throughput: Pos
    board_power_w: Pos
    server_power_w: Pos
    price_usd: NonNeg
    memory_gb: PosInt = 80
    source: str = ""


class CostIn(Strict):
    """Flat (usd_per_gpu_hour) or itemized (life_years, ops_usd_per_gpu_hour,
    idle_power_fraction); neither given: flat at $2.00."""

    usd_per_gpu_hour: NonNeg | None = None
    life_years: Pos | None = None
    ops_usd_per_gpu_hour: NonNeg | None = None
    idle_power_fraction: Annotated[float, Field(ge=0, le=1)] | None = None
    note: str = ""

    @model_validator(mode="after")
    def flat_or_itemized(self) -> CostIn:
        itemized = {"life_years", "ops_usd_per_gpu_hour", "idle_power_fraction"}
        if self.usd_per_gpu_hour is not None and itemized & self.model_fields_set:
            raise ValueError(
                "give usd_per_gpu_hour (a flat all-in rate) or the itemized "
                "keys (life_years, ops_usd_per_gpu_hour, idle_power_fraction), "
                "not both"
            )
        return self


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


# --- bounds on what scales the engine's work (gpufleet.inputs.scenario.bounds; runs work) ------
Hours = Annotated[float, Field(gt=0, le=bounds.MAX_HOURS)]
# checkpoint/restart: hours a resumed job spends reloading its checkpoint before new work
# (its GPUs held); 0, the default, keeps a scenario's jobs as they were
RestoreHours = Annotated[float, Field(ge=0, le=bounds.MAX_HOURS)]
JobGpus = Annotated[int, Field(gt=0, le=bounds.MAX_JOB_GPUS)]


class Lognormal(Strict):
    median: Hours
    sigma: Annotated[float, Field(ge=0, le=bounds.MAX_SIGMA)]


class DurationDist(Strict):
    lognormal: Lognormal | None = None
    choices: Annotated[list[Hours], Field(max_length=bounds.MAX_CHOICES)] | None = None
    weights: Annotated[list[Pos], Field(max_length=bounds.MAX_CHOICES)] | None = None
    min: Hours | None = None
    max: Hours | None = None

    @model_validator(mode="after")
    def one_kind(self) -> DurationDist:
        exactly_one("lognormal", self.lognormal, "choices", self.choices)
        if self.weights is not None and (
            self.choices is None or len(self.weights) != len(self.choices)
        ):
            n = len(self.choices) if self.choices else 0
            raise KeyProblem(
                f"'weights' has {len(self.weights)} entries but 'choices' has {n}",
                "one weight per entry of 'choices'",
                ("weights",),
            )
        return self


class GpuDist(Strict):
    choices: Annotated[list[JobGpus], Field(max_length=bounds.MAX_CHOICES)]
    weights: Annotated[list[Pos], Field(max_length=bounds.MAX_CHOICES)] | None = None

    @model_validator(mode="after")
    def same_length(self) -> GpuDist:
        if not self.choices:
            raise KeyProblem("'choices' is empty", "at least one GPU count", ("choices",))
        if self.weights is not None and len(self.weights) != len(self.choices):
            raise KeyProblem(
                f"'weights' has {len(self.weights)} entries but 'choices' has {len(self.choices)}",
                "one weight per entry of 'choices'",
                ("weights",),
            )
        return self


TopologyLevel = Literal["nvlink", "rack", "block", "site"]


class TopologyIn(Strict):
    """A gang's topology constraint, as Kueue TAS's podset-required-topology (``required``:
    all GPUs within one domain of the level, or wait) and podset-preferred-topology
    (``preferred``: the smallest level from this one up that fits). Both given: try from
    ``preferred`` upward but never beyond ``required``."""

    required: TopologyLevel | None = None
    preferred: TopologyLevel | None = None


class GeneratorIn(Strict):
    jobs_per_day: Annotated[float, Field(gt=0, le=bounds.MAX_JOBS_PER_DAY)]
    gpus: JobGpus | GpuDist
    duration_hours: Hours | DurationDist
    start: When | None = None
    end: When | None = None
    gpu_types: list[str] | None = None
    priority: int | None = None  # default: the program's priority
    preemptible: bool = True
    checkpoint_hours: Hours | None = None
    restore_overhead_hours: RestoreHours = 0.0
    time_limit_hours: Hours | None = None
    name: str = ""
    topology: TopologyIn | None = None


class JobIn(Strict):
    name: str = ""
    submit: When
    gpus: JobGpus
    duration_hours: Hours | None = None
    gpu_hours: Annotated[float, Field(gt=0, le=bounds.MAX_HOURS * bounds.MAX_JOB_GPUS)] | None = (
        None
    )
    gpu_types: list[str] | None = None
    priority: int | None = None  # default: the program's priority
    preemptible: bool = True
    checkpoint_hours: Hours | None = None
    restore_overhead_hours: RestoreHours = 0.0
    time_limit_hours: Hours | None = None  # Slurm's --time; used by EASY backfill
    count: Annotated[int, Field(gt=0, le=bounds.MAX_JOB_COUNT)] = 1
    every_hours: NonNeg = 0.0
    topology: TopologyIn | None = None

    @model_validator(mode="after")
    def one_size(self) -> JobIn:
        exactly_one("duration_hours", self.duration_hours, "gpu_hours", self.gpu_hours)
        return self


class TraceIn(Strict):
    """``path``: a CSV of submit_s,gpus,duration_s[,gpu_type]; or ``source``: any trace
    gpufleet reads (a name from 'gpufleet trace list', a Parquet workload, a sacct export,
    a Kubernetes pod list, or a CSV with ``map``), optionally one ``queue`` of it."""

    path: str | None = None
    source: str | None = None
    format: str = "csv"
    gpu_types: list[str] | None = None
    time_offset_hours: float = 0.0
    queue: str | None = None
    map: str | None = None
    time_format: str | None = None
    scale_load: Annotated[float, Field(gt=0, le=bounds.MAX_SCALE_LOAD)] = 1.0

    @model_validator(mode="after")
    def path_or_source(self) -> TraceIn:
        if (self.path is None) == (self.source is None):
            raise ValueError(
                "give exactly one of 'path' (a CSV of submit_s,gpus,duration_s) "
                "or 'source' (a trace name or file gpufleet reads)"
            )
        return self


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
    cohort: Name | None = None  # a declared cohort of its entity's tree; default: the entity's


class CohortIn(Strict):
    """A Kueue Cohort (v0.11+): its parent, its own quota per GPU type, its fair-sharing
    weight. Limits on a root are refused in :mod:`gpufleet.inputs.scenario.cohorts`, as Kueue
    does."""

    name: Name
    parent: Name | None = None
    quotas: dict[str, QuotaIn] = {}
    weight: Pos = 1.0
    description: str = ""


class EntityIn(Strict):
    name: Name
    cohort: Name | None = None
    description: str = ""
    programs: list[ProgramIn] = []


class PoolIn(Strict):
    name: Name
    site: str
    gpu_type: str
    gpus_per_node: Annotated[int, Field(gt=0, le=bounds.MAX_GPUS_PER_NODE)] = 8
    nodes: Annotated[int, Field(gt=0, le=bounds.MAX_POOL_NODES)]
    owner: str
    delivered: When | None = None
    value_usd: NonNeg | None = None
    nvlink_domain_gpus: Annotated[int, Field(gt=0, le=bounds.MAX_TOPOLOGY)] = 8
    nodes_per_rack: Annotated[int, Field(gt=0, le=bounds.MAX_TOPOLOGY)] = 4
    racks_per_block: Annotated[int, Field(gt=0, le=bounds.MAX_TOPOLOGY)] = 8
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
    def one_change(self) -> TimelineItem:
        exactly_one("transfer", self.transfer, "quota", self.quota)
        return self


class VariantIn(Strict):
    description: str = ""
    timeline: list[TimelineItem] = []
    policy: str | PolicyIn | None = None


class FailuresIn(Strict):
    node_mtbf_hours: Annotated[float, Field(ge=bounds.MIN_MTBF_HOURS, le=1e9)]
    repair_hours: Hours


LAST_YEAR = 9000
"""Plans end before this year: date arithmetic stays far from Python's year 9999."""


class ScenarioIn(Strict):
    name: str
    description: str = ""
    start: When
    end: When | None = None
    horizon_days: Annotated[float, Field(gt=0, le=36_525)] | None = None  # up to 100 years
    seed: Annotated[int, Field(ge=0, le=bounds.MAX_SEED)] = 0  # NumPy seeds are non-negative
    policy: str | PolicyIn = "quota"
    cost: CostIn = CostIn()
    failures: FailuresIn | None = None
    gpu_types: list[GpuTypeIn] = []
    sites: list[SiteIn]
    cohorts: list[CohortIn] = []
    entities: list[EntityIn]
    pools: list[PoolIn]
    timeline: list[TimelineItem] = []
    variants: dict[str, VariantIn] = {}
    assumptions: list[str] = []
    sources: list[str] = []

    @model_validator(mode="after")
    def one_end(self) -> ScenarioIn:
        exactly_one("end", self.end, "horizon_days", self.horizon_days)
        last = self.start.year + (self.horizon_days or 0) / 365.25
        if self.end is not None:
            last = max(last, self.end.year)
        if last >= LAST_YEAR:
            raise ValueError(f"the plan runs past the year {LAST_YEAR - 1}, which is not supported")
        return self
