"""``gpufleet observe`` and ``gpufleet status``: the live fleet, read-only.

- ``observe --config live.yaml [--every 60s [--count N]] [--db URL]``: one observation of
  the sources the file configures (or one every interval), stored in the register. A
  source that fails is recorded with the observation (and said on stderr); the command
  still succeeds. A bad configuration or mapping file is exit 2, nothing stored.
- ``status [--json] [--window 1d] [--config live.yaml] [--db URL]``: in use / idle /
  stranded per entity and site, now and in GPU-days and dollars over the window; pending
  demand with reasons; drift; lease suggestions; sources that failed.
- ``forecast --config live.yaml [--json] [--horizon 30d] [--policy NAME] [--lease L]
  [--db URL]``: the forecast from now of the configured Slurm (each pending job's
  predicted start; with ``--db``, the register's programs' milestone dates); with
  ``--lease 'N TYPE FROM->TO'``, the forecast with that lease from now beside the one
  without, per program (:mod:`gpufleet.live.forecast_whatif`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gpufleet.cli.store import db_arg, open_store
from gpufleet.domain import default_catalog
from gpufleet.domain.org import Milestone
from gpufleet.errors import BusyError, ExitCode, InputError
from gpufleet.live.clock import Clock, WallClock
from gpufleet.live.config import DURATION_EXPECTED, LiveSettings, duration_s, load_settings
from gpufleet.live.cycle import CycleResult, observe_cycle, open_sources
from gpufleet.live.findings import SuggestionRules
from gpufleet.live.forecast import Forecast, forecast_from_state, read_slurm_state
from gpufleet.live.forecast_result import ASSUMPTION
from gpufleet.live.forecast_whatif import (
    LeaseForecast,
    forecast_with_lease,
    lease_accounts,
    parse_lease,
)
from gpufleet.live.mapping import ClusterMapping, parse_mapping
from gpufleet.live.plan import read_register
from gpufleet.live.runner import SubprocessRunner
from gpufleet.live.slurm import SlurmCliSource
from gpufleet.live.status import DEFAULT_WINDOW_S, live_status, status_json
from gpufleet.policies.registry import policy_spec


def _duration(flag: str, text: str) -> float:
    try:
        return duration_s(text)
    except ValueError:
        raise InputError(
            f"{flag} {text!r}: not a duration (expected {DURATION_EXPECTED})"
        ) from None


def _totals(done: CycleResult) -> dict[str, int | None]:
    """The cycle's GPUs seen, allocated and stranded over the fleet (None: a count the
    sources did not give, so the sum is unknown, not 0) and those asked by pending jobs."""
    obs = done.observation

    def total(field: str) -> int | None:
        values = [getattr(c, field) for c in obs.capacity]
        return None if None in values else sum(values)

    return {
        "seen": total("seen"),
        "allocated": total("allocated"),
        "stranded": total("stranded"),
        "pending_gpus": sum(d.gpus for d in obs.demand),
    }


def _summary(done: CycleResult) -> str:
    t = {k: "unknown" if v is None else str(v) for k, v in _totals(done).items()}
    at = done.observation.at.isoformat().replace("+00:00", "Z")
    return (
        f"observed {at}: {t['seen']} GPUs seen, {t['allocated']} allocated, "
        f"{t['stranded']} stranded, {t['pending_gpus']} asked by pending jobs; "
        f"{done.ingested.rows} rows stored (sources {done.read_s:.2f} s, "
        f"store {done.store_s:.2f} s)"
    )


def _summary_json(done: CycleResult) -> str:
    """One cycle as one JSON line (JSON Lines with --every): the same figures as the text,
    and each failed source with its error."""
    obs = done.observation
    return json.dumps(
        {
            "at": obs.at.isoformat().replace("+00:00", "Z"),
            **_totals(done),
            "rows_stored": done.ingested.rows,
            "read_s": round(done.read_s, 3),
            "store_s": round(done.store_s, 3),
            "failures": [{"source": f.source, "error": f.error} for f in obs.failures],
        }
    )


def cmd_observe(args: argparse.Namespace) -> int:
    settings = load_settings(Path(args.config))
    every = _duration("--every", args.every) if args.every else None
    if args.count is not None and (every is None or args.count < 1):
        raise InputError(
            "--count N: needs --every and N >= 1 (expected e.g. --every 60s --count 3)"
        )
    if every is not None:  # a sample stands for the interval it is taken at
        model = settings.model.model_copy(update={"every": every})
        settings = replace(settings, model=model)
    sources = open_sources(settings)
    actor = f"cli:{args.actor}"
    with open_store(args) as store:
        cycles = 0
        while True:
            started = time.monotonic()
            try:
                done = observe_cycle(store, settings, sources, actor=actor)
            except BusyError as e:  # a periodic run goes on; a single one reports it
                if every is None:
                    raise
                print(f"gpufleet: busy, this observation was not stored: {e}", file=sys.stderr)
            else:
                print(_summary_json(done) if args.json else _summary(done), flush=True)
                for f in done.observation.failures:
                    print(f"gpufleet: source {f.source} failed: {f.error}", file=sys.stderr)
            cycles += 1
            if every is None or (args.count is not None and cycles >= args.count):
                return ExitCode.OK
            time.sleep(max(0.0, every - (time.monotonic() - started)))


def _rules(args: argparse.Namespace) -> SuggestionRules:
    base = load_settings(Path(args.config)).suggest if args.config else SuggestionRules()
    return SuggestionRules(
        args.min_gpus if args.min_gpus is not None else base.min_gpus,
        _duration("--after", args.after) if args.after else base.after_s,
        args.lease_days if args.lease_days is not None else base.lease_days,
    )


def _as_of(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"--at {text!r}: not an ISO instant (expected e.g. 2026-12-06T18:00Z)"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def cmd_status(args: argparse.Namespace) -> int:
    rules = _rules(args)
    window = _duration("--window", args.window) if args.window else DEFAULT_WINDOW_S
    now = _as_of(args.at)
    with open_store(args) as store, store.read() as s:
        doc = status_json(live_status(s, now, window, rules))
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        sys.stdout.write(render(doc))
    return ExitCode.OK


# --- text -------------------------------------------------------------------------------


def _n(x: float | None) -> str:
    return "unknown" if x is None else f"{x:g}"


def render(doc: dict[str, Any]) -> str:
    """The status as text for people (the JSON's figures, rounded)."""
    out: list[str] = []
    last, win = doc["latest"], doc["window"]
    if last is None:
        # the enactment's drift is in the audit log, not in a sample: said all the same
        return "no observation stored yet: run `gpufleet observe --config FILE` first\n" + "".join(
            f"{line}\n" for line in _enact_drift(doc)
        )
    out.append(
        f"live fleet as of {doc['now']}; latest sample {last['at']} ({last['tier']}, "
        f"{last['span_s']:g} s); window from {win['since']}: {win['samples']} samples, "
        f"{win['covered_s'] / 86400:.4f} days"
    )
    out += _table(doc["fleet"])
    for by in ("by_entity", "by_site"):
        out.append(f"\n{by.replace('_', ' ')}:")
        for name, t in doc[by].items():
            out.append(
                f"  {name:<14} now {_n(t['in_use_now'])} in use, {_n(t['idle_now'])} idle, "
                f"{_n(t['stranded_now'])} stranded, {_n(t['unknown_use_now'])} of unknown use; "
                f"{t['idle_gpu_days']:.4f} idle GPU-days ${t['idle_usd']:,.2f}, "
                f"{t['stranded_gpu_days']:.4f} stranded GPU-days ${t['stranded_usd']:,.2f}"
            )
    why = doc["unknown"]
    if why["capacity"] or why["use"]:
        out.append("\nunknown (not counted as 0, nor as idle or in use):")
        out += [f"  {k}: {v}" for k, v in why.items() if v]
    out += _lists(doc)
    return "\n".join(out) + "\n"


def _table(rows: list[dict[str, Any]]) -> list[str]:
    head = (
        f"\n{'entity':<10} {'site':<12} {'type':<10} {'in use':>7} {'idle':>7} {'strand':>7}"
        f" {'unknown':>7} {'idle GPU-d':>11} {'idle $':>10} {'strand GPU-d':>13}"
        f" {'strand $':>10}"
    )
    lines = [head]
    for w in rows:
        now, days, usd = w["now"], w["gpu_days"], w["usd"]
        lines.append(
            f"{w['entity']:<10} {w['site']:<12} {w['gpu_type']:<10} {_n(now['in_use']):>7}"
            f" {_n(now['idle']):>7} {_n(now['stranded']):>7} {_n(now['unknown_use']):>7}"
            f" {days['idle']:>11.4f} {usd['idle']:>10,.2f} {days['stranded']:>13.4f}"
            f" {usd['stranded']:>10,.2f}"
        )
    return lines


def _enact_drift(doc: dict[str, Any]) -> list[str]:
    """Settings a scheduler holds that an enactment found changed by hand, not made since."""
    return [
        f"  enacted: {x['message']}; audited at {x['seen_at']} (#{x['audit_seq']})"
        for x in doc.get("enact_drift", [])
    ]


def _lists(doc: dict[str, Any]) -> list[str]:
    out = ["\npending demand:"]
    for d in doc["demand"]:
        said = ", ".join(d["scheduler_reasons"])
        out.append(
            f"  {d['program'] or '?'} ({d['entity'] or '?'}): {d['gpus']:g} "
            f"{d['gpu_type'] or 'GPU'} in {d['jobs']:g} jobs: "
            f"{d['reason'] or 'not waiting for GPUs'} ({said})"
        )
    drift = doc["drift"] or {"counts": [], "quotas": [], "note": ""}
    out.append("\ndrift:")
    out += [f"  {x['message']}" for x in drift["counts"] + drift["quotas"]]
    out += _enact_drift(doc)
    if drift["note"]:
        out.append(f"  ({drift['note']})")
    out.append("\ndown or drained nodes:")
    out += [
        f"  {n['node']} ({n['entity']} at {n['site']}, {n['gpus']} {n['gpu_type']}): "
        f"{n['state']}, {n['reason']!r}"
        for n in doc["down_nodes"]
    ]
    out.append("\nsuggestions (not requested: send the body to POST /api/v1/transfers):")
    for x in doc["suggestions"]:
        r = x["request"]
        at = f" to run at {r['to_site']}" if "to_site" in r else ""
        out.append(
            f"  lease {x['gpus']} {x['gpu_type']} of {x['from_entity']}'s pool {r['pool']} to "
            f"{x['to_entity']} ({x['to_program']}){at}, {r['start']} to {r['end']}: "
            f"{x['kind']} for {x['wasted_s'] / 3600:.2f} h while {x['demand_gpus']:g} are "
            f"waited for ({', '.join(x['demand_reasons'])})"
        )
        out.append(f"    request: {json.dumps(r)}")
        out.append(f"    assess:  {x['assess_command']}")
    out.append("\nnames the mapping does not place (their GPUs are not counted there):")
    out += [
        f"  {u['kind']} {u['name']!r} from {u['source']}: {u['gpus']} GPUs" for u in doc["unmapped"]
    ]
    out.append("\nfailed sources (latest sample):")
    out += [f"  {f['source']}: {f['error']}" for f in doc["failures"]]
    return out


# --- forecast ---------------------------------------------------------------------------


def slurm_source(settings: LiveSettings) -> SlurmCliSource:
    """The configured Slurm, through its commands (the forecast reads sacctmgr, sshare and
    ``scontrol show config`` too, which slurmrestd's mode does not give)."""
    slurm = settings.model.sources.slurm
    if slurm is None:
        raise InputError(
            f"{settings.path}: sources.slurm: not configured (expected a Slurm source to "
            "forecast, e.g. 'slurm: {mode: commands}')"
        )
    if slurm.mode != "commands":
        raise InputError(
            f"{settings.path}: sources.slurm.mode: {slurm.mode!r} reads only jobs and nodes "
            "(expected mode: commands: the forecast also reads sacctmgr, sshare and "
            "scontrol show config)"
        )
    return SlurmCliSource(SubprocessRunner(slurm.env, slurm.timeout))


def _milestones(args: argparse.Namespace, mapping: ClusterMapping) -> dict[str, Milestone]:
    """The register's milestone of each program the mapping's Slurm accounts name."""
    if not args.db:
        return {}
    named = {t.program for t in mapping.model.slurm.accounts.values()}
    with open_store(args) as store, store.read() as s:
        plan = read_register(s).plan
    return {  # the register's dates are naive UTC, the forecast's aware
        p.name: replace(p.milestone, due=p.milestone.due.replace(tzinfo=UTC))
        for e in plan.entities
        for p in e.programs
        if p.milestone is not None and p.name in named
    }


def run_forecast(
    args: argparse.Namespace, settings: LiveSettings, source: SlurmCliSource, clock: Clock
) -> int:
    """The command once its Slurm and clock are chosen (tests give recorded ones)."""
    horizon = timedelta(seconds=_duration("--horizon", args.horizon))
    policy = policy_spec(args.policy) if args.policy else None
    lease = parse_lease(args.lease) if args.lease else None
    catalog = default_catalog()
    mapping = parse_mapping(settings.mapping_text, str(settings.mapping_path), catalog)
    if lease is not None:
        lease_accounts(lease, mapping)
    milestones = _milestones(args, mapping)
    state = read_slurm_state(source)
    now = clock.now()
    if lease is None:
        f = forecast_from_state(
            state, mapping, now, milestones=milestones, horizon=horizon, policy=policy
        )
        doc: Any = f.to_dict()
        text = render_forecast(f)
    else:
        both = forecast_with_lease(
            state, mapping, now, lease, milestones=milestones, horizon=horizon, policy=policy
        )
        doc, text = both.to_dict(), render_lease(both)
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        sys.stdout.write(text)
    return ExitCode.OK


def cmd_forecast(args: argparse.Namespace) -> int:
    settings = load_settings(Path(args.config))
    return run_forecast(args, settings, slurm_source(settings), WallClock())


def _t(at: datetime | None) -> str:
    return "-" if at is None else at.isoformat(timespec="seconds").replace("+00:00", "Z")


def render_forecast(f: Forecast) -> str:
    """Each pending job's predicted start, running jobs' ends, milestone dates, notes."""
    out = [
        f"forecast from {_t(f.now)} to {_t(f.until)}, policy {f.policy.name} "
        f"({f.wall_s:.2f} s); {ASSUMPTION}",
        f"\npending: {'job':>7} {'account':<10} {'program':<14} {'GPUs':>4} {'type':<10} "
        f"{'predicted start':<21} {'end':<21}",
    ]
    for j in f.pending:
        out.append(
            f"         {j.job_id:>7} {j.account:<10} {j.program or '?':<14} {j.gpus:>4} "
            f"{j.gpu_type or '-':<10} {_t(j.start):<21} {_t(j.end):<21}"
        )
    out.append("\nrunning: " + ", ".join(f"{j.job_id} ends {_t(j.end)}" for j in f.running))
    out.append("\nmilestones:" + ("" if f.milestones else " none (give --db for the register's)"))
    for m in f.milestones:
        late = "" if m.late_s is None else f", {m.late_s / 86400:+.3f} days from due"
        out.append(
            f"  {m.program} {m.milestone}: {m.gpu_hours_left:g} GPU-hours left, due "
            f"{_t(m.due)}, reached {_t(m.reached) if m.reached else 'not by the horizon'}{late}"
        )
    out += [f"  skipped job {s.job_id}: {s.why}" for s in f.skipped]
    out += [f"  note: {n}" for n in f.notes]
    out += [f"  not modelled: {n}" for n in f.not_modelled]
    return "".join(line.rstrip() + "\n" for line in out)


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:+.0f} s"


def render_lease(both: LeaseForecast) -> str:
    """Per program: mean predicted start and milestone in both arms, and the change."""
    out = [
        f"lease {both.lease.text} from now to {_t(both.base.until)}: the forecast without "
        "it (base) and with it (lease), per program",
        f"\n{'program':<14} {'pending':>7} {'mean start, base':<21} {'mean start, lease':<21}"
        f" {'change':>9} {'milestone, base':<21} {'milestone, lease':<21} {'change':>9}",
    ]
    for c in both.programs:
        out.append(
            f"{c.program:<14} {c.pending:>7} {_t(c.base.mean_start):<21} "
            f"{_t(c.lease.mean_start):<21} {_s(c.start_change_s):>9} {_t(c.base.milestone):<21}"
            f" {_t(c.lease.milestone):<21} {_s(c.milestone_change_s):>9}"
        )
        if c.base.not_started or c.lease.not_started:
            out.append(
                f"  ({c.base.not_started} of its jobs do not start by the horizon in base, "
                f"{c.lease.not_started} with the lease)"
            )
    out += [f"  note: {n}" for n in both.notes]
    return "".join(line.rstrip() + "\n" for line in out)


def add_commands(sub: Any) -> None:
    o = sub.add_parser("observe", help="observe the live clusters once (or every interval)")
    o.add_argument("--config", required=True, metavar="FILE", help="the live configuration")
    o.add_argument("--every", metavar="DURATION", help="observe every interval (e.g. 60s)")
    o.add_argument("--count", type=int, metavar="N", help="with --every: stop after N")
    o.add_argument("--json", action="store_true", help="print each cycle as one JSON line")
    db_arg(o)
    o.set_defaults(fn=cmd_observe)
    s = sub.add_parser("status", help="the live fleet at a glance, from stored observations")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.add_argument("--window", metavar="DURATION", help="GPU-days over this window (default 1d)")
    s.add_argument("--at", metavar="INSTANT", help="as of this instant (default: now)")
    s.add_argument("--config", metavar="FILE", help="take the suggestion rules from this file")
    s.add_argument("--min-gpus", type=int, help="suggest a lease from this many GPUs wasted")
    s.add_argument("--after", metavar="DURATION", help="... wasted for this long (default 1h)")
    s.add_argument("--lease-days", type=int, help="length of a suggested lease (default 30)")
    db_arg(s)
    s.set_defaults(fn=cmd_status)
    f = sub.add_parser("forecast", help="forecast the live Slurm from now (and with a lease)")
    f.add_argument("--config", required=True, metavar="FILE", help="the live configuration")
    f.add_argument("--json", action="store_true", help="print JSON")
    f.add_argument("--horizon", default="30d", metavar="DURATION", help="how far (default 30d)")
    f.add_argument("--policy", metavar="NAME", help="another policy than the cluster's")
    f.add_argument("--lease", metavar="'N TYPE FROM->TO'", help="also forecast with this lease")
    f.add_argument("--db", metavar="URL", help="read the programs' milestones from this register")
    f.set_defaults(fn=cmd_forecast)
