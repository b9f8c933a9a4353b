"""``gpufleet explain``: why is my job pending? Simulate up to a time and look at a job
(``--job ID``) or at a program's queue (``--program P``).

The run stops after the last event at or before ``--at`` (``Simulation.run_until``); what
is shown is the state after that instant's scheduling cycle. The explanations are the
engine's (:mod:`gpufleet.engine.explain`); this module checks the arguments against the run
and renders them as text or JSON.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import datetime, timedelta
from typing import Any

from gpufleet.domain.scenario import Scenario
from gpufleet.engine.explain import (
    DoneJob,
    Finished,
    JobExplanation,
    PendingView,
    ProgramExplanation,
    QueuedJob,
    RunAt,
    explain_job,
    explain_program,
)
from gpufleet.errors import ExitCode, InputError
from gpufleet.inputs.scenario.bounds import seed_arg
from gpufleet.inputs.scenario.dates import as_datetime
from gpufleet.inputs.scenario.load import load_scenario
from gpufleet.policies.registry import make_policy
from gpufleet.sim.simulator import Simulation

_UNITS_S = {"m": 60.0, "h": 3600.0, "d": 86_400.0}
_OFFSET = re.compile(r"\+\s*(\d+(?:\.\d*)?)\s*([mhd])")


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


def _iso(d: datetime) -> str:
    return d.isoformat()


def _queued(j: QueuedJob) -> dict[str, Any]:
    return {"id": j.id, "gpus": j.gpus, "submit": _iso(j.submit), "reason": j.reason}


def job_dict(e: JobExplanation) -> dict[str, Any]:
    """The ``--json`` form of a job's explanation: dates as ISO text."""
    out: dict[str, Any] = {"job": e.job, "at": _iso(e.at)}
    if isinstance(e, DoneJob):
        return out | {
            "state": "done",
            "program": e.program,
            "gpus": e.gpus,
            "submit": _iso(e.submit),
            "started": _iso(e.started),
            "finished": _iso(e.finished),
        }
    out |= {
        "state": e.state,
        "program": e.program,
        "cohort": e.cohort,
        "gpus": e.gpus,
        "gpu_types": list(e.gpu_types),
        "priority": e.priority,
        "submit": _iso(e.submit),
        "preemptions": e.preemptions,
    }
    if e.started is not None:
        out |= {"started": _iso(e.started), "running_on": e.running_on}
    if e.pending is not None:
        out |= _pending_dict(e.pending)
    return out


def _pending_dict(v: PendingView) -> dict[str, Any]:
    out: dict[str, Any] = {
        "reason": v.reason,
        "sentence": v.sentence,
        "reason_since": _iso(v.reason_since),
        "program_queue_position": v.program_queue_position,
        "program_queue_length": v.program_queue_length,
        "cohort_queue_position": v.cohort_queue_position,
        "ahead_gpus": v.ahead_gpus,
        "ahead": [_queued(a) for a in v.ahead],
    }
    if v.reserved_start is not None:
        out["reserved_start"] = _iso(v.reserved_start)
    if v.held_for is not None:
        h = v.held_for
        out["held_for"] = {"job": h.job, "reserved_start": _iso(h.reserved_start)}
    return out


def program_dict(e: ProgramExplanation) -> dict[str, Any]:
    """The ``--json`` form of a program's explanation."""
    return {
        "program": e.program,
        "at": _iso(e.at),
        "pending": e.pending,
        "running": e.running,
        "pending_by_reason": dict(e.pending_by_reason),
        "jobs": [_queued(j) | {"sentence": j.sentence} for j in e.jobs],
    }


def render_job(e: JobExplanation) -> str:
    lines = [f"job {e.job} at {_iso(e.at)}: {'done' if isinstance(e, DoneJob) else e.state}"]
    lines.append(f"  program {e.program}, {e.gpus} GPUs, submitted {_iso(e.submit)}")
    if isinstance(e, DoneJob):
        lines.append(f"  ran {_iso(e.started)} to {_iso(e.finished)}")
        return "\n".join(lines)
    lines.append(f"  allowed GPU types: {', '.join(e.gpu_types)}; priority {e.priority}")
    if e.started is not None:
        lines.append(f"  running since {_iso(e.started)} on {e.running_on}")
        return "\n".join(lines)
    assert e.pending is not None  # a live job not running is pending
    lines += _render_pending(e.pending, e.program, e.cohort)
    return "\n".join(lines)


def _render_pending(v: PendingView, program: str, cohort: str) -> list[str]:
    lines = [f"  reason: {v.reason} (since {_iso(v.reason_since)})", f"    {v.sentence}"]
    if v.reserved_start is not None:
        lines.append(
            f"    it holds its cohort's backfill reservation to start at {_iso(v.reserved_start)}"
        )
    if v.held_for is not None:
        h = v.held_for
        lines.append(f"    held for job {h.job}, reserved to start at {_iso(h.reserved_start)}")
    lines.append(
        f"  queue position {v.program_queue_position} of {v.program_queue_length} in "
        f"its program, {v.cohort_queue_position} in cohort {cohort}"
    )
    n_ahead = v.program_queue_position - 1
    if n_ahead:
        lines.append(f"  ahead of it in {program}: {n_ahead} jobs, {v.ahead_gpus} GPUs")
        for a in v.ahead:
            lines.append(f"    job {a.id}: {a.gpus} GPUs, {_iso(a.submit)}, {a.reason}")
        if n_ahead > len(v.ahead):
            lines.append(f"    ... {n_ahead - len(v.ahead)} more")
    return lines


def render_program(e: ProgramExplanation) -> str:
    lines = [f"program {e.program} at {_iso(e.at)}: {e.pending} pending, {e.running} running"]
    for code, n in e.pending_by_reason:
        lines.append(f"  {n} {code}")
    if e.jobs:
        lines.append(f"first {len(e.jobs)} pending:")
        for j in e.jobs:
            lines.append(f"  job {j.id}: {j.gpus} GPUs, {_iso(j.submit)}, {j.reason}")
            lines.append(f"    {j.sentence}")
    return "\n".join(lines)


class _Recorded:
    """The simulator's record of a finished job, as the explanation asks for it."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim

    def finished(self, job_id: int) -> Finished | None:
        rec = self.sim.recorder
        ids = list(rec.j_id)
        if job_id not in ids:
            return None
        i = ids.index(job_id)
        return Finished(
            self.sim.state.programs[rec.j_program[i]].name,
            int(rec.j_gpus[i]),
            float(rec.j_submit[i]),
            float(rec.j_start[i]),
            float(rec.j_finish[i]),
        )


def _explain(sim: Simulation, args: argparse.Namespace, at_s: float) -> tuple[dict[str, Any], str]:
    """(the JSON form, the text) of what ``--job`` or ``--program`` asks, each argument
    checked against the run."""
    run = RunAt(sim.state, sim.policy, sim.sc.start, at_s, sim.submitted)
    if args.job is not None:
        job_id = args.job
        if job_id < 0 or job_id >= sim.submitted:
            ids = f"ids 0 to {sim.submitted - 1} were" if sim.submitted else "none was"
            raise InputError(
                f"--job {job_id}: no such job submitted by {_iso(run.at)} ({ids}); "
                "give one of those ids, or a later --at"
            )
        e = explain_job(run, _Recorded(sim), job_id)
        return job_dict(e), render_job(e)
    p = sim.state.program_by_name.get(args.program)
    if p is None:
        valid = ", ".join(sorted(sim.state.program_by_name))
        raise InputError(f"--program {args.program!r}: no such program; the scenario has: {valid}")
    pe = explain_program(run, p)
    return program_dict(pe), render_program(pe)


def cmd_explain(args: argparse.Namespace) -> int:
    sc = load_scenario(args.scenario)
    if args.variant:
        sc = sc.variant(args.variant)
    policy = make_policy(args.policy) if args.policy else None
    at_s = parse_at(args.at, sc)
    sim = Simulation(sc, policy, args.seed)
    sim.run_until(at_s)
    d, text = _explain(sim, args, at_s)
    print(json.dumps(d, indent=2, sort_keys=True) if args.json else text)
    return ExitCode.OK


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
    e.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    e.set_defaults(fn=cmd_explain)
