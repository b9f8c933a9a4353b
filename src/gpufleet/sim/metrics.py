"""A run's figures as typed values: unrounded, in their units, dates as ``datetime``.

These are what the planning, governance and report layers compute with (the what-if
statistics among them, so that a mean over seeds is the mean of exact figures, not of
figures already rounded for print). Rounding and ISO dates happen in one place only, the
``to_dict`` methods: the JSON edge (``SimResult.to_dict``, the API, the CLI's ``--json``),
whose shape and rounding these methods keep exactly as they were when results were dicts.

Units are in the names: ``_s`` seconds, ``_gpu_hours`` GPU-hours, ``_usd`` dollars,
``_gpus`` a mean level of GPUs over a bucket. The formulas are in :mod:`gpufleet.sim.result`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

import numpy as np


def rounded(x: float, nd: int = 4) -> float:
    """``x`` rounded to ``nd`` decimals as a Python float (the JSON edge's rounding)."""
    return float(round(x, nd))


# --- the JSON edge's shapes (what to_dict returns) ------------------------------------------
class SpreadJson(TypedDict):
    mean: float
    p50: float
    p95: float
    p99: float
    max: float


class MilestoneJson(TypedDict):
    name: str
    gpu_hours: float
    due: str  # ISO date-time
    reached: str | None
    delay_days: float | None
    done_fraction: float


class ProgramJson(TypedDict):
    entity: str
    jobs_finished: int
    jobs_pending_at_end: int
    jobs_running_at_end: int
    gpu_hours_received: float
    gpu_hours_entitled: float
    received_over_entitled: float | None
    work_done_gpu_hours: float
    work_lost_gpu_hours: float
    queueing_delay_s: SpreadJson
    jct_s: SpreadJson
    milestone: MilestoneJson | None
    pending_reasons_hours: dict[str, float]


class EntityJson(TypedDict):
    gpu_hours_used: float
    gpu_hours_owned: float
    gpu_hours_ready: float
    stranded_gpu_hours: float
    stranded_gpu_days: float
    gpu_hours_lent: float
    gpu_hours_borrowed: float
    cost_usd: float
    capex_usd: float | None
    power_usd: float | None
    ops_usd: float | None
    stranded_cost_usd: float
    stranded_cost_usd_per_gpu_day: float | None
    cost_usd_per_used_gpu_hour: float | None
    gpus_owned_at_end: int


class FleetJson(TypedDict):
    gpu_hours_used: float
    gpu_hours_ready: float
    gpu_hours_delivered: float
    idle_ready_gpu_hours: float
    stranded_gpu_hours: float
    down_gpu_hours: float
    stranded_gpu_days: float
    utilisation: float
    utilisation_while_arriving: float
    utilisation_to_last_finish: float
    fairness_jain: float
    cost_usd_per_gpu_hour: float | None
    cost_model: str  # "flat" or "itemized"
    cost_usd: float
    stranded_cost_usd: float
    pending_reasons_hours: dict[str, float]


class SummaryJson(TypedDict):
    jobs_submitted: int
    jobs_finished: int
    jobs_preempted: int
    work_lost_gpu_hours: float
    restore_gpu_hours: float
    node_failures: int
    queueing_delay_s: SpreadJson
    jct_s: SpreadJson
    slowdown: SpreadJson


class SeriesJson(TypedDict):
    bucket_s: float
    fleet_used_gpus: list[float]
    fleet_ready_gpus: list[float]
    fleet_stranded_gpus: list[float]
    utilisation: list[float]
    entity_used_gpus: dict[str, list[float]]
    program_work_done_gpu_hours: dict[str, list[float]]
    entity_stranded_gpus: dict[str, list[float]]


class RunJson(TypedDict):
    wall_s: float
    events: int
    cycles: int
    events_per_s: float | None


@dataclass(frozen=True)
class Spread:
    """Mean and percentiles of one figure over a set of jobs (all 0 when there are none)."""

    mean: float
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, a: np.ndarray[Any, Any], overwrite: bool = False) -> Spread:
        """The spread of ``a``; with ``overwrite`` the percentiles reorder ``a`` itself
        instead of a copy (for an array made for this call: a copy is 8 bytes a job), the
        mean and maximum taken before, on the order as given."""
        if a.size == 0:
            return cls(0.0, 0.0, 0.0, 0.0, 0.0)
        mean, top = float(a.mean()), float(a.max())
        p50, p95, p99 = np.percentile(a, [50, 95, 99], overwrite_input=overwrite)
        return cls(mean, float(p50), float(p95), float(p99), top)

    def to_dict(self) -> SpreadJson:
        return {
            "mean": rounded(self.mean, 2),
            "p50": rounded(self.p50, 2),
            "p95": rounded(self.p95, 2),
            "p99": rounded(self.p99, 2),
            "max": rounded(self.max, 2),
        }


@dataclass(frozen=True)
class MilestoneOutcome:
    """A program's milestone and when (if ever within the horizon) its work was done."""

    name: str
    gpu_hours: float
    due: datetime
    reached: datetime | None
    done_fraction: float  # work done / the milestone's GPU-hours, at most 1

    @property
    def delay_days(self) -> float | None:
        """Days late (negative: early); None when not reached within the horizon."""
        if self.reached is None:
            return None
        return (self.reached - self.due).total_seconds() / 86400

    def delay_days_censored(self, end: datetime) -> float:
        """Days late, counting a milestone not reached as reached at ``end`` (the horizon):
        what the what-if arithmetic uses, with the censored seeds reported beside it."""
        delay = self.delay_days
        if delay is not None:
            return delay
        return (end - self.due).total_seconds() / 86400  # naive datetimes: no local DST

    def to_dict(self) -> MilestoneJson:
        delay = self.delay_days
        return {
            "name": self.name,
            "gpu_hours": self.gpu_hours,
            "due": self.due.isoformat(),
            "reached": self.reached.isoformat() if self.reached else None,
            "delay_days": rounded(delay, 2) if delay is not None else None,
            "done_fraction": rounded(self.done_fraction, 4),
        }


def _hours_to_dict(hours: dict[str, float]) -> dict[str, float]:
    return {code: rounded(h, 2) for code, h in hours.items()}


@dataclass(frozen=True)
class ProgramMetrics:
    """One program's run: jobs, GPU-hours received against its entitlement, work done,
    delays, its milestone and its pending job-hours per reason code (largest first)."""

    entity: str
    jobs_finished: int
    jobs_pending_at_end: int
    jobs_running_at_end: int
    gpu_hours_received: float
    gpu_hours_entitled: float
    work_done_gpu_hours: float
    work_lost_gpu_hours: float
    queueing_delay_s: Spread
    jct_s: Spread
    milestone: MilestoneOutcome | None
    pending_reasons_hours: dict[str, float]

    @property
    def received_over_entitled(self) -> float | None:
        if not self.gpu_hours_entitled:
            return None
        return self.gpu_hours_received / self.gpu_hours_entitled

    def to_dict(self) -> ProgramJson:
        ratio = self.received_over_entitled
        return {
            "entity": self.entity,
            "jobs_finished": self.jobs_finished,
            "jobs_pending_at_end": self.jobs_pending_at_end,
            "jobs_running_at_end": self.jobs_running_at_end,
            "gpu_hours_received": rounded(self.gpu_hours_received, 1),
            "gpu_hours_entitled": rounded(self.gpu_hours_entitled, 1),
            "received_over_entitled": rounded(ratio, 4) if ratio is not None else None,
            "work_done_gpu_hours": rounded(self.work_done_gpu_hours, 1),
            "work_lost_gpu_hours": rounded(self.work_lost_gpu_hours, 1),
            "queueing_delay_s": self.queueing_delay_s.to_dict(),
            "jct_s": self.jct_s.to_dict(),
            "milestone": self.milestone.to_dict() if self.milestone else None,
            "pending_reasons_hours": _hours_to_dict(self.pending_reasons_hours),
        }


@dataclass(frozen=True)
class CostLines:
    """The itemized cost model's lines (docs/cost-model.md); absent under a flat rate."""

    capex_usd: float
    power_usd: float
    ops_usd: float


@dataclass(frozen=True)
class EntityMetrics:
    """One entity's GPU-hours (owned, ready, used, stranded, lent, borrowed) and costs."""

    gpu_hours_used: float
    gpu_hours_owned: float
    gpu_hours_ready: float
    stranded_gpu_hours: float
    gpu_hours_lent: float
    gpu_hours_borrowed: float
    cost_usd: float
    lines: CostLines | None
    stranded_cost_usd: float
    gpus_owned_at_end: int

    @property
    def stranded_gpu_days(self) -> float:
        return self.stranded_gpu_hours / 24

    @property
    def stranded_cost_usd_per_gpu_day(self) -> float | None:
        if not self.stranded_gpu_hours:
            return None
        return self.stranded_cost_usd / self.stranded_gpu_days

    @property
    def cost_usd_per_used_gpu_hour(self) -> float | None:
        return self.cost_usd / self.gpu_hours_used if self.gpu_hours_used else None

    def to_dict(self) -> EntityJson:
        lines = self.lines
        per_day = self.stranded_cost_usd_per_gpu_day
        per_used = self.cost_usd_per_used_gpu_hour
        return {
            "gpu_hours_used": rounded(self.gpu_hours_used, 1),
            "gpu_hours_owned": rounded(self.gpu_hours_owned, 1),
            "gpu_hours_ready": rounded(self.gpu_hours_ready, 1),
            "stranded_gpu_hours": rounded(self.stranded_gpu_hours, 1),
            "stranded_gpu_days": rounded(self.stranded_gpu_days, 2),
            "gpu_hours_lent": rounded(self.gpu_hours_lent, 1),
            "gpu_hours_borrowed": rounded(self.gpu_hours_borrowed, 1),
            "cost_usd": rounded(self.cost_usd, 0),
            "capex_usd": rounded(lines.capex_usd, 0) if lines else None,
            "power_usd": rounded(lines.power_usd, 0) if lines else None,
            "ops_usd": rounded(lines.ops_usd, 0) if lines else None,
            "stranded_cost_usd": rounded(self.stranded_cost_usd, 0),
            "stranded_cost_usd_per_gpu_day": rounded(per_day, 2) if per_day is not None else None,
            "cost_usd_per_used_gpu_hour": rounded(per_used, 4) if per_used is not None else None,
            "gpus_owned_at_end": self.gpus_owned_at_end,
        }


@dataclass(frozen=True)
class FleetMetrics:
    """The whole fleet: GPU-hours by state, utilisation, fairness and cost."""

    gpu_hours_used: float
    gpu_hours_ready: float
    gpu_hours_delivered: float
    stranded_gpu_hours: float
    down_gpu_hours: float
    fairness_jain: float
    cost_usd_per_gpu_hour: float | None  # None: the itemized cost model
    cost_usd: float
    stranded_cost_usd: float
    pending_reasons_hours: dict[str, float]
    # used / ready GPU-hours from the start to the last submit, and to the last finish
    # (not the padded horizon): (used, ready) GPU-hours of each span
    to_last_submit: tuple[float, float] = (0.0, 0.0)
    to_last_finish: tuple[float, float] = (0.0, 0.0)

    @property
    def utilisation_while_arriving(self) -> float:
        used, ready = self.to_last_submit
        return used / ready if ready else 0.0

    @property
    def utilisation_to_last_finish(self) -> float:
        used, ready = self.to_last_finish
        return used / ready if ready else 0.0

    @property
    def idle_ready_gpu_hours(self) -> float:
        return self.gpu_hours_ready - self.gpu_hours_used

    @property
    def stranded_gpu_days(self) -> float:
        return self.stranded_gpu_hours / 24

    @property
    def utilisation(self) -> float:
        return self.gpu_hours_used / self.gpu_hours_ready if self.gpu_hours_ready else 0.0

    def to_dict(self, entities: dict[str, EntityJson]) -> FleetJson:
        """``entities``: the entities' own JSON. The fleet's cost totals printed there are
        the sums of the entities' printed lines, so that a reader's sum of the lines
        matches the total to the dollar."""
        return {
            "gpu_hours_used": rounded(self.gpu_hours_used, 1),
            "gpu_hours_ready": rounded(self.gpu_hours_ready, 1),
            "gpu_hours_delivered": rounded(self.gpu_hours_delivered, 1),
            "idle_ready_gpu_hours": rounded(self.idle_ready_gpu_hours, 1),
            "stranded_gpu_hours": rounded(self.stranded_gpu_hours, 1),
            "down_gpu_hours": rounded(self.down_gpu_hours, 1),
            "stranded_gpu_days": rounded(self.stranded_gpu_days, 2),
            "utilisation": rounded(self.utilisation, 4) if self.gpu_hours_ready else 0.0,
            "utilisation_while_arriving": rounded(self.utilisation_while_arriving, 4),
            "utilisation_to_last_finish": rounded(self.utilisation_to_last_finish, 4),
            "fairness_jain": rounded(self.fairness_jain, 4),
            "cost_usd_per_gpu_hour": self.cost_usd_per_gpu_hour,
            "cost_model": "flat" if self.cost_usd_per_gpu_hour is not None else "itemized",
            "cost_usd": rounded(sum(e["cost_usd"] for e in entities.values()), 0),
            "stranded_cost_usd": rounded(sum(e["stranded_cost_usd"] for e in entities.values()), 0),
            "pending_reasons_hours": _hours_to_dict(self.pending_reasons_hours),
        }


@dataclass(frozen=True)
class RunSummary:
    """Job counts and the delays of every finished job."""

    jobs_submitted: int
    jobs_finished: int
    jobs_preempted: int
    node_failures: int
    queueing_delay_s: Spread
    jct_s: Spread
    slowdown: Spread
    # preemption's cost: reference GPU-hours of progress thrown away (work since the last
    # checkpoint), and GPU-hours resumed jobs spent reloading a checkpoint
    work_lost_gpu_hours: float = 0.0
    restore_gpu_hours: float = 0.0

    def to_dict(self) -> SummaryJson:
        return {
            "jobs_submitted": self.jobs_submitted,
            "jobs_finished": self.jobs_finished,
            "jobs_preempted": self.jobs_preempted,
            "work_lost_gpu_hours": rounded(self.work_lost_gpu_hours, 2),
            "restore_gpu_hours": rounded(self.restore_gpu_hours, 2),
            "node_failures": self.node_failures,
            "queueing_delay_s": self.queueing_delay_s.to_dict(),
            "jct_s": self.jct_s.to_dict(),
            "slowdown": self.slowdown.to_dict(),
        }


def _rounded_all(xs: list[float], nd: int) -> list[float]:
    return [rounded(x, nd) for x in xs]


@dataclass(frozen=True)
class Series:
    """Mean levels per bucket of ``bucket_s`` seconds from the scenario's start, and each
    program's cumulative work done at each bucket's end."""

    bucket_s: float
    fleet_used_gpus: list[float]
    fleet_ready_gpus: list[float]
    fleet_stranded_gpus: list[float]
    entity_used_gpus: dict[str, list[float]]
    program_work_done_gpu_hours: dict[str, list[float]]
    entity_stranded_gpus: dict[str, list[float]]

    @property
    def utilisation(self) -> list[float]:
        pairs = zip(self.fleet_used_gpus, self.fleet_ready_gpus, strict=True)
        return [u / r if r else 0.0 for u, r in pairs]

    def to_dict(self) -> SeriesJson:
        return {
            "bucket_s": self.bucket_s,
            "fleet_used_gpus": _rounded_all(self.fleet_used_gpus, 1),
            "fleet_ready_gpus": _rounded_all(self.fleet_ready_gpus, 1),
            "fleet_stranded_gpus": _rounded_all(self.fleet_stranded_gpus, 1),
            "utilisation": _rounded_all(self.utilisation, 4),
            "entity_used_gpus": {k: _rounded_all(v, 1) for k, v in self.entity_used_gpus.items()},
            "program_work_done_gpu_hours": {
                k: _rounded_all(v, 1) for k, v in self.program_work_done_gpu_hours.items()
            },
            "entity_stranded_gpus": {
                k: _rounded_all(v, 1) for k, v in self.entity_stranded_gpus.items()
            },
        }


@dataclass(frozen=True)
class RunStats:
    """How the run went on this machine (not reproducible: wall time varies)."""

    wall_s: float
    events: int
    cycles: int

    @property
    def events_per_s(self) -> float | None:
        return self.events / self.wall_s if self.wall_s > 0 else None

    def to_dict(self) -> RunJson:
        rate = self.events_per_s
        return {
            "wall_s": rounded(self.wall_s, 3),
            "events": self.events,
            "cycles": self.cycles,
            "events_per_s": rounded(rate, 0) if rate is not None else None,
        }


@dataclass(frozen=True)
class RunMetrics:
    """Every figure of one run, by subject; programs and entities in the scenario's order."""

    summary: RunSummary
    programs: dict[str, ProgramMetrics]
    entities: dict[str, EntityMetrics]
    fleet: FleetMetrics
    series: Series
    run: RunStats
