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
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from gpufleet.sim.simulator import Simulation


def _r(x: float, nd: int = 4) -> float:
    return float(round(x, nd))


def _pcts(a: np.ndarray[Any, Any]) -> dict[str, float]:
    if a.size == 0:
        return {"mean": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {
        "mean": _r(float(a.mean()), 2),
        "p50": _r(float(p50), 2),
        "p95": _r(float(p95), 2),
        "p99": _r(float(p99), 2),
        "max": _r(float(a.max()), 2),
    }


def jain(xs: list[float]) -> float:
    """Jain's fairness index (Jain, Chiu, Hawe 1984): (sum x)^2 / (n * sum x^2)."""
    if not xs:
        return 1.0
    sq = sum(x * x for x in xs)
    return 1.0 if sq == 0 else (sum(xs) ** 2) / (len(xs) * sq)


@dataclass
class SimResult:
    scenario: str
    policy: str
    seed: int
    start: datetime
    horizon_s: float
    summary: dict[str, Any]
    programs: dict[str, dict[str, Any]]
    entities: dict[str, dict[str, Any]]
    fleet: dict[str, Any]
    series: dict[str, Any]
    run: dict[str, Any]
    jobs: dict[str, np.ndarray[Any, Any]] = field(repr=False)

    def to_dict(self, with_run: bool = False) -> dict[str, Any]:
        """Everything but the per-job rows. ``with_run`` adds wall time and event counts,
        which vary between machines; without them the output is byte-for-byte
        reproducible for a seed."""
        d: dict[str, Any] = {
            "scenario": self.scenario,
            "policy": self.policy,
            "seed": self.seed,
            "start": self.start.isoformat(),
            "horizon_days": _r(self.horizon_s / 86400, 3),
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
        cols = {k: v for k, v in self.jobs.items()}
        if backend == "polars":
            import polars as pl

            return pl.DataFrame(cols)
        import pandas as pd

        return pd.DataFrame(cols)

    def programs_frame(self, backend: str = "pandas") -> Any:
        rows = [
            {"program": k, **{f: v for f, v in m.items() if not isinstance(v, dict)}}
            for k, m in self.programs.items()
        ]
        if backend == "polars":
            import polars as pl

            return pl.DataFrame(rows)
        import pandas as pd

        return pd.DataFrame(rows)


def build_result(sim: Simulation, wall_s: float, submitted: int) -> SimResult:
    sc, rec, st = sim.sc, sim.recorder, sim.state
    h = 3600.0
    jobs = _job_columns(sim)
    programs: dict[str, dict[str, Any]] = {}
    ratios: list[float] = []
    waits = rec.pending_reasons_s(sc.horizon_s)
    fleet_waits: dict[str, float] = {}
    for d in waits:
        for code, s in d.items():
            fleet_waits[code] = fleet_waits.get(code, 0.0) + s
    for p in st.programs:
        received = rec.program[p.index].used_total / h
        entitled = rec.program_entitled[p.index].total / h
        if entitled > 0:
            ratios.append(received / entitled)
        mask = jobs["program"] == p.name
        programs[p.name] = {
            "entity": p.entity,
            "jobs_finished": int(mask.sum()),
            "jobs_pending_at_end": len(p.pending),
            "jobs_running_at_end": len(p.running),
            "gpu_hours_received": _r(received, 1),
            "gpu_hours_entitled": _r(entitled, 1),
            "received_over_entitled": _r(received / entitled, 4) if entitled else None,
            "work_done_gpu_hours": _r(rec.program[p.index].work_total / h, 1),
            "work_lost_gpu_hours": _r(rec.program_lost[p.index] / h, 1),
            "queueing_delay_s": _pcts(jobs["queueing_delay_s"][mask]),
            "jct_s": _pcts(jobs["jct_s"][mask]),
            "milestone": _milestone(sim, p.name, p.index),
            "pending_reasons_hours": _hours_by_reason(waits[p.index]),
        }
    entities = {name: _entity(sim, i) for i, name in enumerate(st.entities)}
    used_h = rec.fleet_used_gpu_s / h
    ready_h = rec.fleet_ready.total / h
    fleet = {
        "gpu_hours_used": _r(used_h, 1),
        "gpu_hours_ready": _r(ready_h, 1),
        "gpu_hours_delivered": _r(rec.fleet_delivered.total / h, 1),
        "idle_ready_gpu_hours": _r(ready_h - used_h, 1),
        "stranded_gpu_hours": _r(rec.fleet_stranded.total / h, 1),
        "down_gpu_hours": _r(rec.fleet_down.total / h, 1),
        "stranded_gpu_days": _r(rec.fleet_stranded.total / h / 24, 2),
        "utilisation": _r(used_h / ready_h, 4) if ready_h else 0.0,
        "fairness_jain": _r(jain(ratios), 4),
        "cost_usd_per_gpu_hour": sc.cost.usd_per_gpu_hour,
        "cost_model": "itemized" if sc.cost.itemized else "flat",
        "cost_usd": _r(sum(e["cost_usd"] for e in entities.values()), 0),
        "stranded_cost_usd": _r(sum(e["stranded_cost_usd"] for e in entities.values()), 0),
        "pending_reasons_hours": _hours_by_reason(fleet_waits),
    }
    summary = {
        "jobs_submitted": submitted,
        "jobs_finished": int(jobs["id"].size),
        "jobs_preempted": rec.preemptions,
        "node_failures": sim.node_failures,
        "queueing_delay_s": _pcts(jobs["queueing_delay_s"]),
        "jct_s": _pcts(jobs["jct_s"]),
        "slowdown": _pcts(jobs["slowdown"]),
    }
    series = _series(sim)
    run = {
        "wall_s": _r(wall_s, 3),
        "events": sim.events,
        "cycles": sim.engine.cycles,
        "events_per_s": _r(sim.events / wall_s, 0) if wall_s > 0 else None,
    }
    return SimResult(
        sc.name,
        sim.policy.name,
        sim.seed,
        sc.start,
        sc.horizon_s,
        summary,
        programs,
        entities,
        fleet,
        series,
        run,
        jobs,
    )


def _hours_by_reason(seconds: dict[str, float]) -> dict[str, float]:
    """Job-hours pending per reason code (codes as plain strings, largest first)."""
    rows = sorted(seconds.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return {str(code): _r(s / 3600.0, 2) for code, s in rows if s > 0}


def _entity(sim: Simulation, i: int) -> dict[str, Any]:
    """One entity's hours and costs; cost lines by the scenario's cost model (flat or
    itemized, see gpufleet.domain.scenario.CostModel and docs/cost-model.md)."""
    rec, cost, h = sim.recorder, sim.sc.cost, 3600.0
    owned = rec.entity_delivered[i].total / h
    used = rec.entity_used[i].total / h
    stranded = rec.entity_stranded[i].total / h
    lines: dict[str, float | None] = {"capex_usd": None, "power_usd": None, "ops_usd": None}
    if cost.usd_per_gpu_hour is not None:
        total = owned * cost.usd_per_gpu_hour
        stranded_cost = stranded * cost.usd_per_gpu_hour
    else:
        capex = rec.entity_capex[i].total
        power = rec.entity_idle_power[i].total + rec.entity_busy_power[i].total
        ops = owned * cost.ops_usd_per_gpu_hour
        total = capex + power + ops
        stranded_cost = rec.entity_stranded_capex[i].total + stranded * cost.ops_usd_per_gpu_hour
        lines = {"capex_usd": _r(capex, 0), "power_usd": _r(power, 0), "ops_usd": _r(ops, 0)}
    return {
        "gpu_hours_used": _r(used, 1),
        "gpu_hours_owned": _r(owned, 1),
        "gpu_hours_ready": _r(rec.entity_ready[i].total / h, 1),
        "stranded_gpu_hours": _r(stranded, 1),
        "stranded_gpu_days": _r(stranded / 24, 2),
        "gpu_hours_lent": _r(rec.entity_lent[i].total / h, 1),
        "gpu_hours_borrowed": _r(rec.entity_borrowed[i].total / h, 1),
        "cost_usd": _r(total, 0),
        **lines,
        "stranded_cost_usd": _r(stranded_cost, 0),
        "stranded_cost_usd_per_gpu_day": _r(stranded_cost / (stranded / 24), 2)
        if stranded
        else None,
        "cost_usd_per_used_gpu_hour": _r(total / used, 4) if used else None,
        "gpus_owned_at_end": int(rec.entity_delivered[i].value),
    }


def _job_columns(sim: Simulation) -> dict[str, np.ndarray[Any, Any]]:
    rec = sim.recorder
    names = np.array([p.name for p in sim.state.programs] or [""], dtype=object)
    submit = np.frombuffer(rec.j_submit, dtype=np.float64)
    start = np.frombuffer(rec.j_start, dtype=np.float64)
    finish = np.frombuffer(rec.j_finish, dtype=np.float64)
    ideal = np.frombuffer(rec.j_ideal, dtype=np.float64)
    jct = finish - submit
    return {
        "id": np.frombuffer(rec.j_id, dtype=np.int64).copy(),
        "program": names[np.frombuffer(rec.j_program, dtype=np.int32)],
        "gpus": np.frombuffer(rec.j_gpus, dtype=np.int32).copy(),
        "submit_s": submit.copy(),
        "start_s": start.copy(),
        "finish_s": finish.copy(),
        "queueing_delay_s": start - submit,
        "jct_s": jct,
        "slowdown": np.divide(jct, ideal, out=np.ones_like(jct), where=ideal > 0),
        "preemptions": np.frombuffer(rec.j_preempt, dtype=np.int32).copy(),
    }


def _milestone(sim: Simulation, program: str, index: int) -> dict[str, Any] | None:
    p = sim.sc.program(program)
    m = p.milestone
    if m is None:
        return None
    w = sim.recorder.program[index]
    reached = (sim.sc.start + timedelta(seconds=w.reached_t)) if w.reached_t is not None else None
    out: dict[str, Any] = {
        "name": m.name,
        "gpu_hours": m.gpu_hours,
        "due": m.due.isoformat(),
        "reached": reached.isoformat() if reached else None,
        "delay_days": None,
        "done_fraction": _r(min(1.0, w.work_total / 3600 / m.gpu_hours), 4),
    }
    if reached is not None:
        out["delay_days"] = _r((reached - m.due).total_seconds() / 86400, 2)
    return out


def _series(sim: Simulation) -> dict[str, Any]:
    rec = sim.recorder
    used = rec.fleet_used_series()
    ready = rec.fleet_ready.series()
    return {
        "bucket_s": sim.bucket_s,
        "fleet_used_gpus": [_r(x, 1) for x in used],
        "fleet_ready_gpus": [_r(x, 1) for x in ready],
        "fleet_stranded_gpus": [_r(x, 1) for x in rec.fleet_stranded.series()],
        "utilisation": [_r(u / r, 4) if r else 0.0 for u, r in zip(used, ready, strict=True)],
        "entity_used_gpus": {
            name: [_r(x, 1) for x in rec.entity_used[i].series()]
            for i, name in enumerate(sim.state.entities)
        },
        "program_work_done_gpu_hours": {
            p.name: [_r(x / 3600, 1) for x in rec.program[p.index].cumulative_work()]
            for p in sim.state.programs
        },
        "entity_stranded_gpus": {
            name: [_r(x, 1) for x in rec.entity_stranded[i].series()]
            for i, name in enumerate(sim.state.entities)
        },
    }
