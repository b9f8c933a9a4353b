"""``gpufleet forecast``: the forecast from now of the configured Slurm, read-only.

``forecast --config live.yaml [--json] [--horizon 30d] [--policy NAME] [--lease L]
[--db URL]``: each pending job's predicted start (with ``--db``, the register's programs'
milestone dates); with ``--lease 'N TYPE FROM->TO'``, the forecast with that lease from now
beside the one without, per program (:mod:`gpufleet.live.forecast_whatif`).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gpufleet.cli.live import _duration
from gpufleet.cli.store import open_store
from gpufleet.domain import default_catalog
from gpufleet.domain.org import Milestone
from gpufleet.errors import ExitCode, InputError
from gpufleet.live.clock import Clock, WallClock
from gpufleet.live.config import LiveSettings, load_settings
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
from gpufleet.policies.registry import policy_spec


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
    f = sub.add_parser("forecast", help="forecast the live Slurm from now (and with a lease)")
    f.add_argument("--config", required=True, metavar="FILE", help="the live configuration")
    f.add_argument("--json", action="store_true", help="print JSON")
    f.add_argument("--horizon", default="30d", metavar="DURATION", help="how far (default 30d)")
    f.add_argument("--policy", metavar="NAME", help="another policy than the cluster's")
    f.add_argument("--lease", metavar="'N TYPE FROM->TO'", help="also forecast with this lease")
    f.add_argument("--db", metavar="URL", help="read the programs' milestones from this register")
    f.set_defaults(fn=cmd_forecast)
