"""``gpufleet observe`` and ``gpufleet status``: the live fleet, read-only (``gpufleet
forecast``: :mod:`gpufleet.cli.forecast`).

- ``observe --config live.yaml [--every 60s [--count N]] [--db URL]``: one observation of
  the sources the file configures (or one every interval), stored in the register. A
  source that fails is recorded with the observation (and said on stderr); the command
  still succeeds. A bad configuration or mapping file is exit 2, nothing stored.
- ``status [--json] [--window 1d] [--config live.yaml] [--db URL]``: in use / idle /
  stranded per entity and site, now and in GPU-days and dollars over the window; pending
  demand with reasons; drift; lease suggestions; sources that failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gpufleet.cli.output import Cycles
from gpufleet.cli.store import db_arg, open_store
from gpufleet.errors import BusyError, ExitCode, InputError
from gpufleet.live.config import DURATION_EXPECTED, duration_s, load_settings
from gpufleet.live.cycle import CycleResult, observe_cycle, open_sources
from gpufleet.live.findings import SuggestionRules
from gpufleet.live.status import DEFAULT_WINDOW_S, live_status, status_json


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
    between = Cycles("observe", every, args.count) if every is not None else None
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
            if between is None or (args.count is not None and cycles >= args.count):
                return ExitCode.OK
            between.wait(cycles, started)  # on a terminal: the cycles, the next one's time


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
