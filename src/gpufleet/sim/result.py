"""What a simulation produced: per-job rows and per-program, per-entity and fleet metrics.

All figures are derived from exact integrals (see :mod:`gpufleet.sim.levels`). Formulas:

- queueing delay = first start - submit; JCT = finish - submit;
  slowdown = JCT / (work / throughput of the fastest allowed GPU type);
- received GPU-hours = integral of the program's GPUs in use; entitled GPU-hours = integral
  of its nominal quota (all types); work done = integral of GPUs x throughput, less work
  lost to preemption, in reference (H100) GPU-hours;
- milestone date = the first instant work done reaches the milestone's GPU-hours;
- utilisation = used GPU-hours / ready GPU-hours; idle-but-ready = ready - used;
  stranded GPU-hours = integral of (delivered - powered) GPUs;
- cost = delivered GPU-hours x the scenario's $/GPU-hour (owned hardware costs money
  whether it works, idles or is stranded);
- pending job-hours by reason = per reason code, the sum over jobs of the time they waited
  under it (a job's wait splits at each change of its reason; see gpufleet.engine.engine);
- fairness = Jain's index of x_i = received_i / entitled_i over programs with a quota:
  (sum x)^2 / (n sum x^2), 1 when every program got the same fraction of its entitlement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import numpy as np

from gpufleet.domain.scenario import Scenario
from gpufleet.errors import UnknownNameError
from gpufleet.extras import require
from gpufleet.sim.job_columns import JobColumns
from gpufleet.sim.metrics import (
    CostLines,
    EntityJson,
    EntityMetrics,
    FleetJson,
    FleetMetrics,
    MilestoneOutcome,
    ProgramJson,
    ProgramMetrics,
    RunJson,
    RunMetrics,
    RunStats,
    RunSummary,
    Series,
    SeriesJson,
    Spread,
    SummaryJson,
    rounded,
)
from gpufleet.sim.recorder import Recorder
from gpufleet.state.jobs import ProgramState

_H = 3600.0


def jain(xs: list[float]) -> float:
    """Jain's fairness index (Jain, Chiu, Hawe 1984): (sum x)^2 / (n * sum x^2)."""
    if not xs:
        return 1.0
    sq = sum(x * x for x in xs)
    return 1.0 if sq == 0 else (sum(xs) ** 2) / (len(xs) * sq)


@dataclass
class SimResult:
    """One run: its typed figures (``metrics``, unrounded) and its finished jobs' rows.

    ``summary``, ``programs``, ``entities``, ``fleet``, ``series`` and ``run`` are the same
    figures as JSON values (rounded, dates as ISO text): the shape ``to_dict`` writes,
    for the edges that print or serialise them."""

    scenario: str
    policy: str
    seed: int
    start: datetime
    horizon_s: float
    metrics: RunMetrics
    jobs: JobColumns = field(repr=False)

    @property
    def end(self) -> datetime:
        """The horizon as a date (naive, as the scenario's start)."""
        return self.start + timedelta(seconds=self.horizon_s)

    @cached_property
    def summary(self) -> SummaryJson:
        return self.metrics.summary.to_dict()

    @cached_property
    def programs(self) -> dict[str, ProgramJson]:
        return {k: m.to_dict() for k, m in self.metrics.programs.items()}

    @cached_property
    def entities(self) -> dict[str, EntityJson]:
        return {k: m.to_dict() for k, m in self.metrics.entities.items()}

    @cached_property
    def fleet(self) -> FleetJson:
        return self.metrics.fleet.to_dict(self.entities)

    @cached_property
    def series(self) -> SeriesJson:
        return self.metrics.series.to_dict()

    @cached_property
    def run(self) -> RunJson:
        return self.metrics.run.to_dict()

    def to_dict(self, with_run: bool = False) -> dict[str, Any]:
        """Everything but the per-job rows. ``with_run`` adds wall time and event counts,
        which vary between machines; without them the output is byte-for-byte
        reproducible for a seed."""
        d: dict[str, Any] = {
            "scenario": self.scenario,
            "policy": self.policy,
            "seed": self.seed,
            "start": self.start.isoformat(),
            "horizon_days": rounded(self.horizon_s / 86400, 3),
            "summary": self.summary,
            "programs": self.programs,
            "entities": self.entities,
            "fleet": self.fleet,
            "series": self.series,
        }
        if with_run:
            d["run"] = self.run
        return d

    def to_json(self, with_run: bool = False) -> str:
        return json.dumps(self.to_dict(with_run), indent=2, sort_keys=True)

    def jobs_frame(self, backend: str = "pandas") -> Any:
        """Finished jobs as a DataFrame (``pandas`` or ``polars``), one row per job."""
        return frame({k: v for k, v in self.jobs.items()}, backend, "jobs_frame()")

    def programs_frame(self, backend: str = "pandas") -> Any:
        rows = [
            {"program": k, **{f: v for f, v in m.items() if not isinstance(v, dict)}}
            for k, m in self.programs.items()
        ]
        return frame(rows, backend, "programs_frame()")


FRAME_BACKENDS = ("pandas", "polars")


def frame(data: Any, backend: str, purpose: str) -> Any:
    """``data`` (columns or rows) as a DataFrame of ``backend``: pandas or polars, which
    come with the ``frames`` extra (a clear error naming it when it is not installed)."""
    if backend not in FRAME_BACKENDS:
        raise UnknownNameError("DataFrame backend", backend, FRAME_BACKENDS)
    return require("frames", backend, purpose).DataFrame(data)


def build_result(
    sc: Scenario,
    rec: Recorder,
    policy: str,
    seed: int,
    run: RunStats,
    submitted: int,
    node_failures: int,
) -> SimResult:
    """The result of a run whose recorder ``rec`` is closed at the horizon. It takes what
    it reads, not the simulation, so the simulator imports this module and not back."""
    jobs = _job_columns(rec)
    waits = rec.pending_reasons_s(sc.horizon_s)
    programs_of = rec.state.programs
    # one derived column alive at a time (each is 8 bytes a job): its spread over all
    # jobs, then over each program's
    spreads: dict[str, tuple[Spread, list[Spread]]] = {}
    for col in ("queueing_delay_s", "jct_s"):
        a = jobs[col]  # made for this loop: the percentiles may reorder it and its parts
        per = [Spread.of(a[jobs.of_program(p.index)], overwrite=True) for p in programs_of]
        spreads[col] = Spread.of(a, overwrite=True), per
        del a
    programs = {
        p.name: _program(
            sc,
            rec,
            p,
            int(jobs.of_program(p.index).sum()),
            (spreads["queueing_delay_s"][1][i], spreads["jct_s"][1][i]),
            waits[p.index],
        )
        for i, p in enumerate(programs_of)
    }
    entities = {name: _entity(sc, rec, i) for i, name in enumerate(rec.state.entities)}
    summary = RunSummary(
        jobs_submitted=submitted,
        jobs_finished=jobs.size,
        jobs_preempted=rec.preemptions,
        node_failures=node_failures,
        queueing_delay_s=spreads["queueing_delay_s"][0],
        jct_s=spreads["jct_s"][0],
        slowdown=Spread.of(jobs["slowdown"], overwrite=True),
        work_lost_gpu_hours=rec.lost_gpu_s / _H,
        restore_gpu_hours=rec.restore_gpu_s / _H,
    )
    fleet = _fleet(sc, rec, programs, entities, waits)
    metrics = RunMetrics(summary, programs, entities, fleet, _series(rec), run)
    return SimResult(sc.name, policy, seed, sc.start, sc.horizon_s, metrics, jobs)


def _program(
    sc: Scenario,
    rec: Recorder,
    p: ProgramState,
    finished: int,
    delay_and_jct: tuple[Spread, Spread],
    waits_s: dict[str, float],
) -> ProgramMetrics:
    return ProgramMetrics(
        entity=p.entity,
        jobs_finished=finished,
        jobs_pending_at_end=len(p.pending),
        jobs_running_at_end=len(p.running),
        gpu_hours_received=rec.program[p.index].used_total / _H,
        gpu_hours_entitled=rec.program_entitled[p.index].total / _H,
        work_done_gpu_hours=rec.program[p.index].work_total / _H,
        work_lost_gpu_hours=rec.program_lost[p.index] / _H,
        queueing_delay_s=delay_and_jct[0],
        jct_s=delay_and_jct[1],
        milestone=_milestone(sc, rec, p.name, p.index),
        pending_reasons_hours=_hours_by_reason(waits_s),
    )


def _fleet(
    sc: Scenario,
    rec: Recorder,
    programs: dict[str, ProgramMetrics],
    entities: dict[str, EntityMetrics],
    waits: list[dict[str, float]],
) -> FleetMetrics:
    """The fleet's hours and costs; fairness over the programs with an entitlement."""
    fleet_waits: dict[str, float] = {}
    for d in waits:
        for code, s in d.items():
            fleet_waits[code] = fleet_waits.get(code, 0.0) + s
    ratios = [
        m.gpu_hours_received / m.gpu_hours_entitled
        for m in programs.values()
        if m.gpu_hours_entitled > 0
    ]
    return FleetMetrics(
        gpu_hours_used=rec.fleet_used_gpu_s / _H,
        gpu_hours_ready=rec.fleet_ready.total / _H,
        gpu_hours_delivered=rec.fleet_delivered.total / _H,
        stranded_gpu_hours=rec.fleet_stranded.total / _H,
        down_gpu_hours=rec.fleet_down.total / _H,
        fairness_jain=jain(ratios),
        cost_usd_per_gpu_hour=sc.cost.usd_per_gpu_hour,
        cost_usd=sum(e.cost_usd for e in entities.values()),
        stranded_cost_usd=sum(e.stranded_cost_usd for e in entities.values()),
        pending_reasons_hours=_hours_by_reason(fleet_waits),
        to_last_submit=(rec.to_last_submit[0] / _H, rec.to_last_submit[1] / _H),
        to_last_finish=(rec.to_last_finish[0] / _H, rec.to_last_finish[1] / _H),
    )


def _hours_by_reason(seconds: dict[str, float]) -> dict[str, float]:
    """Job-hours pending per reason code (codes as plain strings, largest first)."""
    rows = sorted(seconds.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return {str(code): s / _H for code, s in rows if s > 0}


def _entity(sc: Scenario, rec: Recorder, i: int) -> EntityMetrics:
    """One entity's hours and costs; cost lines by the scenario's cost model (flat or
    itemized, see gpufleet.domain.scenario.CostModel and docs/cost-model.md)."""
    cost = sc.cost
    owned = rec.entity_delivered[i].total / _H
    stranded = rec.entity_stranded[i].total / _H
    lines: CostLines | None = None
    if cost.usd_per_gpu_hour is not None:
        total = owned * cost.usd_per_gpu_hour
        stranded_cost = stranded * cost.usd_per_gpu_hour
    else:
        capex = rec.entity_capex[i].total
        power = rec.entity_idle_power[i].total + rec.entity_busy_power[i].total
        ops = owned * cost.ops_usd_per_gpu_hour
        total = capex + power + ops
        stranded_cost = rec.entity_stranded_capex[i].total + stranded * cost.ops_usd_per_gpu_hour
        lines = CostLines(capex, power, ops)
    return EntityMetrics(
        gpu_hours_used=rec.entity_used[i].total / _H,
        gpu_hours_owned=owned,
        gpu_hours_ready=rec.entity_ready[i].total / _H,
        stranded_gpu_hours=stranded,
        gpu_hours_lent=rec.entity_lent[i].total / _H,
        gpu_hours_borrowed=rec.entity_borrowed[i].total / _H,
        cost_usd=total,
        lines=lines,
        stranded_cost_usd=stranded_cost,
        gpus_owned_at_end=int(rec.entity_delivered[i].value),
    )


def _job_columns(rec: Recorder) -> JobColumns:
    """The finished jobs' columns: views of the recorder's buffers, not copies (a copy of
    each held 40 bytes a job twice at the end of a run, 80 MB of a 2M-job replay's peak,
    issue 14), and the derived ones computed when read (:mod:`gpufleet.sim.job_columns`)."""
    recorded: dict[str, np.ndarray[Any, Any]] = {
        "id": np.frombuffer(rec.j_id, dtype=np.int32),
        "gpus": np.frombuffer(rec.j_gpus, dtype=np.int32),
        "submit_s": np.frombuffer(rec.j_submit, dtype=np.float64),
        "start_s": np.frombuffer(rec.j_start, dtype=np.float64),
        "finish_s": np.frombuffer(rec.j_finish, dtype=np.float64),
        "preemptions": np.frombuffer(rec.j_preempt, dtype=np.int32),
    }
    return JobColumns(
        recorded,
        np.frombuffer(rec.j_program, dtype=np.int32),
        [p.name for p in rec.state.programs],
        np.frombuffer(rec.j_ideal, dtype=np.float64),
    )


def _milestone(sc: Scenario, rec: Recorder, program: str, index: int) -> MilestoneOutcome | None:
    m = sc.program(program).milestone
    if m is None:
        return None
    w = rec.program[index]
    reached = sc.start + timedelta(seconds=w.reached_t) if w.reached_t is not None else None
    done = min(1.0, w.work_total / 3600 / m.gpu_hours)
    return MilestoneOutcome(m.name, m.gpu_hours, m.due, reached, done)


def _series(rec: Recorder) -> Series:
    st = rec.state
    return Series(
        bucket_s=rec.bucket_s,
        fleet_used_gpus=rec.fleet_used_series(),
        fleet_ready_gpus=rec.fleet_ready.series(),
        fleet_stranded_gpus=rec.fleet_stranded.series(),
        entity_used_gpus={name: rec.entity_used[i].series() for i, name in enumerate(st.entities)},
        program_work_done_gpu_hours={
            p.name: [x / _H for x in rec.program[p.index].cumulative_work()] for p in st.programs
        },
        entity_stranded_gpus={
            name: rec.entity_stranded[i].series() for i, name in enumerate(st.entities)
        },
    )
