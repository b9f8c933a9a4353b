"""Side by side: the figures of several runs of one scenario (variants or policies).

The tables print each run's JSON figures (``SimResult.programs``, ``.entities``, ``.fleet``:
the typed figures of :mod:`gpufleet.sim.metrics` as ``to_dict`` rounds them), not the
unrounded ones, so that the text and ``--json`` agree to the last digit printed: formatting
an unrounded 582.53 GPU-hours gives 583 where the JSON's 582.5 prints as 582."""

from __future__ import annotations

from datetime import datetime

from gpufleet.planning.report.table import num, render
from gpufleet.sim.metrics import FleetJson, MilestoneJson, MilestoneOutcome, ProgramJson
from gpufleet.sim.result import SimResult


def _date(d: datetime | None) -> str:
    return f"{d:%Y-%m-%d}" if d else "not reached"


def _reached(m: MilestoneOutcome | None) -> str:
    return _date(m.reached if m else None)


def _delay(m: MilestoneJson | None) -> str:
    if not m:
        return "-"
    if m["delay_days"] is None:
        return f"> horizon ({m['done_fraction'] * 100:.0f}% done)"
    d = m["delay_days"]
    return f"{d:+.1f} d" + (" late" if d > 0 else " early" if d < 0 else "")


def _cost_title(fleet: FleetJson) -> str:
    rate = fleet["cost_usd_per_gpu_hour"]
    if rate is None:
        return "Entities (itemized cost: capex over the GPUs' life, power, operations)"
    return f"Entities (cost at ${rate:.2f} per owned GPU-hour)"


def _reason_rows(programs: list[ProgramJson], top: int = 3) -> list[list[str]]:
    """A heading row, then one row per reason: the ``top`` largest of any run (the JSON's
    ``pending_reasons_hours`` has them all)."""
    hours = [m["pending_reasons_hours"] for m in programs]
    peak: dict[str, float] = {}
    for h in hours:
        for code, x in h.items():
            peak[code] = max(peak.get(code, 0.0), x)
    codes = sorted(peak, key=lambda c: (-peak[c], c))[:top]
    rows = [["  pending job-hours by reason", *(["-"] if not codes else [""]) * len(hours)]]
    rows += [[f"    {c}", *[num(h.get(c, 0.0)) for h in hours]] for c in codes]
    return rows


def _program_rows(prog: str, runs: list[SimResult]) -> list[list[str]]:
    ms = runs[0].metrics.programs[prog].milestone
    label = f"{prog}: milestone '{ms.name}' due {_date(ms.due)}" if ms else prog
    ps = [r.programs[prog] for r in runs]
    row = {
        "  milestone reached": [_reached(r.metrics.programs[prog].milestone) for r in runs],
        "  vs due date": [_delay(p["milestone"]) for p in ps],
        "  GPU-hours received": [num(p["gpu_hours_received"]) for p in ps],
        "  work done (H100 GPU-h)": [num(p["work_done_gpu_hours"]) for p in ps],
        "  mean queueing delay (h)": [num(p["queueing_delay_s"]["mean"] / 3600, 1) for p in ps],
        "  jobs finished": [num(p["jobs_finished"]) for p in ps],
    }
    return [[label] + [""] * len(runs), *([k, *v] for k, v in row.items()), *_reason_rows(ps)]


def _entity_rows(ent: str, runs: list[SimResult]) -> list[list[str]]:
    e = [r.entities[ent] for r in runs]
    return [
        [ent] + [""] * len(runs),
        ["  GPUs owned at end", *[num(x["gpus_owned_at_end"]) for x in e]],
        ["  GPU-hours used", *[num(x["gpu_hours_used"]) for x in e]],
        ["  stranded GPU-days", *[num(x["stranded_gpu_days"]) for x in e]],
        ["  cost of stranded GPUs ($)", *[num(x["stranded_cost_usd"]) for x in e]],
        ["  cost of owned GPUs ($)", *[num(x["cost_usd"]) for x in e]],
        ["  $ per used GPU-hour", *[num(x["cost_usd_per_used_gpu_hour"], 2) for x in e]],
    ]


def comparison(results: dict[str, SimResult]) -> str:
    """One table per subject: programs, entities, fleet; one column per run."""
    names = list(results)
    runs = list(results.values())
    first = runs[0]
    prog_rows = [row for prog in first.metrics.programs for row in _program_rows(prog, runs)]
    ent_rows = [row for ent in first.metrics.entities for row in _entity_rows(ent, runs)]
    f = [r.fleet for r in runs]
    fleet_rows = [
        ["utilisation of ready GPUs", *[f"{x['utilisation'] * 100:.1f}%" for x in f]],
        ["GPU-hours used", *[num(x["gpu_hours_used"]) for x in f]],
        ["idle-but-ready GPU-hours", *[num(x["idle_ready_gpu_hours"]) for x in f]],
        ["stranded GPU-days", *[num(x["stranded_gpu_days"]) for x in f]],
        ["fairness (Jain, received/entitled)", *[f"{x['fairness_jain']:.3f}" for x in f]],
    ]
    return "\n\n".join(
        [
            render(["program", *names], prog_rows, "Programs"),
            render(["entity", *names], ent_rows, _cost_title(first.fleet)),
            render(["fleet", *names], fleet_rows, "Fleet"),
        ]
    )


def single(result: SimResult) -> str:
    return comparison({result.policy: result})
