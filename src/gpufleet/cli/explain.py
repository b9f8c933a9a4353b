"""``gpufleet explain``: why is my job pending? Simulate up to a time and look at a job
(``--job ID``) or at a program's queue (``--program P``).

The run stops after the last event at or before ``--at`` (``Simulation.run_until``); what
is shown is the state after that instant's scheduling cycle.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import datetime, timedelta
from typing import Any

from gpufleet.domain.scenario import Scenario
from gpufleet.errors import InputError
from gpufleet.inputs.scenario.bounds import seed_arg
from gpufleet.inputs.scenario.dates import as_datetime
from gpufleet.inputs.scenario.load import load_scenario
from gpufleet.policies.base import Reason
from gpufleet.policies.registry import make_policy
from gpufleet.policies.slurm import SlurmBackfill
from gpufleet.sim.simulator import Simulation
from gpufleet.state.jobs import Job, JobState

_UNITS_S = {"m": 60.0, "h": 3600.0, "d": 86_400.0}
_OFFSET = re.compile(r"\+\s*(\d+(?:\.\d*)?)\s*([mhd])")
LIST_LIMIT = 20
AHEAD_SHOWN = 5


def parse_at(text: str, sc: Scenario) -> float:
    """Seconds after the scenario's start: an ISO date or date-time, or ``+36h``/``+2d``/
    ``+90m``; it must lie within the horizon."""
    m = _OFFSET.fullmatch(text.strip())
    if m:
        t_s = float(m.group(1)) * _UNITS_S[m.group(2)]
    else:
        try:
            when = as_datetime(datetime.fromisoformat(text.strip()))
        except ValueError:
            raise InputError(
                f"--at {text!r}: not a time; give an ISO date or date-time "
                "(2025-01-02, 2025-01-02T06:00) or a time after the start (+36h, +2d, +90m)"
            ) from None
        t_s = (when - sc.start).total_seconds()
    end = sc.start + timedelta(seconds=sc.horizon_s)
    if not 0.0 <= t_s <= sc.horizon_s:
        raise InputError(
            f"--at {text!r}: outside the scenario, which runs from "
            f"{sc.start.isoformat()} to {end.isoformat()} (+0h to +{sc.horizon_s / 3600:g}h)"
        )
    return t_s


def _stamp(sc: Scenario, t_s: float) -> str:
    return (sc.start + timedelta(seconds=t_s)).isoformat()


def _reason(job: Job) -> dict[str, Any]:
    code = job.reason
    return {
        "code": str(code),
        "sentence": Reason(code).sentence if code else "not yet looked at by a scheduling cycle",
        "since": job.reason_since_s,
    }


def _pending_view(sim: Simulation, job: Job) -> dict[str, Any]:
    """Reason, queue positions and the jobs ahead in its program's queue."""
    ahead: list[Job] = []
    for j in job.program.pending.values():
        if j is job:
            break
        ahead.append(j)
    cohort_pos = 1
    for j in sim.state.cohorts[job.cohort].queue.values():
        if j is job:
            break
        cohort_pos += 1
    sc = sim.sc
    reason = _reason(job)
    return {
        "reason": reason["code"],
        "sentence": reason["sentence"],
        "reason_since": _stamp(sc, reason["since"]),
        "program_queue_position": len(ahead) + 1,
        "program_queue_length": len(job.program.pending),
        "cohort_queue_position": cohort_pos,
        "ahead_gpus": sum(j.spec.gpus for j in ahead),
        "ahead": [_brief(sc, j) for j in ahead[:AHEAD_SHOWN]],
    } | _reservation(sim, job)


def _reservation(sim: Simulation, job: Job) -> dict[str, Any]:
    """Under EASY backfill: the reserved start of the cohort's top job, shown on that job
    (``reserved_start``) and on a job held for it (``held_for``)."""
    pol = sim.policy
    held = pol.reservations.get(job.cohort) if isinstance(pol, SlurmBackfill) else None
    if held is None:
        return {}
    top, start = held[0], _stamp(sim.sc, held[1])
    if top == job.spec.id:
        return {"reserved_start": start}
    if job.reason == Reason.HELD_FOR_BACKFILL:
        return {"held_for": {"job": top, "reserved_start": start}}
    return {}


def _brief(sc: Scenario, j: Job) -> dict[str, Any]:
    return {
        "id": j.spec.id,
        "gpus": j.spec.gpus,
        "submit": _stamp(sc, j.spec.submit_s),
        "reason": str(j.reason),
    }


def explain_job(sim: Simulation, job_id: int, at_s: float) -> dict[str, Any]:
    sc = sim.sc
    if job_id < 0 or job_id >= sim.submitted:
        ids = f"ids 0 to {sim.submitted - 1} were" if sim.submitted else "none was"
        raise InputError(f"--job {job_id}: no such job submitted by {_stamp(sc, at_s)} ({ids})")
    out: dict[str, Any] = {"job": job_id, "at": _stamp(sc, at_s)}
    job = sim.job(job_id)
    if job is None:
        rec = sim.recorder
        i = list(rec.j_id).index(job_id)
        prog = sim.state.programs[rec.j_program[i]]
        out |= {
            "state": "done",
            "program": prog.name,
            "gpus": rec.j_gpus[i],
            "submit": _stamp(sc, rec.j_submit[i]),
            "started": _stamp(sc, rec.j_start[i]),
            "finished": _stamp(sc, rec.j_finish[i]),
        }
        return out
    s = job.spec
    out |= {
        "state": "pending" if job.state is JobState.PENDING else "running",
        "program": job.program.name,
        "cohort": job.cohort,
        "gpus": s.gpus,
        "gpu_types": list(s.gpu_types),
        "priority": s.priority,
        "submit": _stamp(sc, s.submit_s),
        "preemptions": job.preemptions,
    }
    if job.state is JobState.RUNNING:
        out["started"] = _stamp(sc, job.start_s)
        group = sim.state.capacity.groups[job.group]
        out["running_on"] = f"{group.gpu_type} at {group.site}"
    else:
        out |= _pending_view(sim, job)
    return out


def explain_program(sim: Simulation, program: str, at_s: float) -> dict[str, Any]:
    st = sim.state
    p = st.program_by_name.get(program)
    if p is None:
        valid = ", ".join(sorted(st.program_by_name))
        raise InputError(f"--program {program!r}: no such program; the scenario has: {valid}")
    sc = sim.sc
    shown = []
    for i, j in enumerate(p.pending.values()):
        if i >= LIST_LIMIT:
            break
        shown.append(_brief(sc, j) | {"sentence": _reason(j)["sentence"]})
    counts: dict[str, int] = {}
    for j in p.pending.values():
        counts[str(j.reason)] = counts.get(str(j.reason), 0) + 1
    return {
        "program": program,
        "at": _stamp(sc, at_s),
        "pending": len(p.pending),
        "running": len(p.running),
        "pending_by_reason": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        "jobs": shown,
    }


def render_job(d: dict[str, Any]) -> str:
    lines = [f"job {d['job']} at {d['at']}: {d['state']}"]
    lines.append(f"  program {d['program']}, {d['gpus']} GPUs, submitted {d['submit']}")
    if d["state"] == "done":
        lines.append(f"  ran {d['started']} to {d['finished']}")
        return "\n".join(lines)
    lines.append(f"  allowed GPU types: {', '.join(d['gpu_types'])}; priority {d['priority']}")
    if d["state"] == "running":
        lines.append(f"  running since {d['started']} on {d['running_on']}")
        return "\n".join(lines)
    lines.append(f"  reason: {d['reason']} (since {d['reason_since']})")
    lines.append(f"    {d['sentence']}")
    if "reserved_start" in d:
        lines.append(
            f"    it holds its cohort's backfill reservation to start at {d['reserved_start']}"
        )
    if "held_for" in d:
        h = d["held_for"]
        lines.append(f"    held for job {h['job']}, reserved to start at {h['reserved_start']}")
    lines.append(
        f"  queue position {d['program_queue_position']} of {d['program_queue_length']} in "
        f"its program, {d['cohort_queue_position']} in cohort {d['cohort']}"
    )
    n_ahead = d["program_queue_position"] - 1
    if n_ahead:
        lines.append(f"  ahead of it in {d['program']}: {n_ahead} jobs, {d['ahead_gpus']} GPUs")
        for a in d["ahead"]:
            lines.append(f"    job {a['id']}: {a['gpus']} GPUs, {a['submit']}, {a['reason']}")
        if n_ahead > len(d["ahead"]):
            lines.append(f"    ... {n_ahead - len(d['ahead'])} more")
    return "\n".join(lines)


def render_program(d: dict[str, Any]) -> str:
    lines = [f"program {d['program']} at {d['at']}: {d['pending']} pending, {d['running']} running"]
    for code, n in d["pending_by_reason"].items():
        lines.append(f"  {n} {code}")
    if d["jobs"]:
        lines.append(f"first {len(d['jobs'])} pending:")
        for j in d["jobs"]:
            lines.append(f"  job {j['id']}: {j['gpus']} GPUs, {j['submit']}, {j['reason']}")
            lines.append(f"    {j['sentence']}")
    return "\n".join(lines)


def cmd_explain(args: argparse.Namespace) -> int:
    sc = load_scenario(args.scenario)
    if args.variant:
        sc = sc.variant(args.variant)
    policy = make_policy(args.policy) if args.policy else None
    at_s = parse_at(args.at, sc)
    sim = Simulation(sc, policy, args.seed)
    sim.run_until(at_s)
    if args.job is not None:
        d = explain_job(sim, args.job, at_s)
        text = render_job(d)
    else:
        d = explain_program(sim, args.program, at_s)
        text = render_program(d)
    print(json.dumps(d, indent=2, sort_keys=True) if args.json else text)
    return 0


def add_commands(sub: Any) -> None:
    e = sub.add_parser("explain", help="why is a job pending: its state and reason at a time")
    e.add_argument("scenario")
    who = e.add_mutually_exclusive_group(required=True)
    who.add_argument("--job", type=int, help="a job id (ids follow submit order from 0)")
    who.add_argument("--program", help="list the program's pending jobs and their reasons")
    e.add_argument(
        "--at", required=True, help="ISO date or date-time, or after the start: +36h, +2d"
    )
    e.add_argument("--variant", help="a variant named in the file")
    e.add_argument("--policy", help="override the scenario's policy")
    e.add_argument("--seed", type=seed_arg, help="override the scenario's seed")
    e.add_argument("--json", action="store_true")
    e.set_defaults(fn=cmd_explain)
