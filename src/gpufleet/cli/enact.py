"""``gpufleet apply slurm --cluster NAME --config live.yaml [--at INSTANT] [--db URL]
[--json] [--apply]``: the changes that make the cluster enforce the register at the
instant (default now), each with its cause; with ``--apply`` they are made, under the
cluster's lock, journalled in the audit log, verified by reading back, rolled back on a
failure. Without ``--apply`` nothing is changed. See docs/enact.md."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gpufleet.cli.enact_kueue import add_kueue
from gpufleet.cli.store import db_arg, open_store
from gpufleet.domain import default_catalog
from gpufleet.errors import ExitCode, InputError
from gpufleet.governance.store.db import Store
from gpufleet.live.config import LiveSettings, load_settings
from gpufleet.live.enact.desired import desired_state
from gpufleet.live.enact.diff import Kind, ReservationSpec
from gpufleet.live.enact.drift import DriftFinding, read_findings
from gpufleet.live.enact.lock import apply_lock, default_lock_path
from gpufleet.live.enact.model import ClusterSettings, DesiredState, GpuLimitStyle, LeaseStyle
from gpufleet.live.enact.register import read_rows
from gpufleet.live.enact.slurm_apply import (
    Plan,
    SubprocessExecutor,
    apply,
    plan,
    roll_back_unfinished,
)
from gpufleet.live.enact.status import audit_drift, classify, journal_status, render_status
from gpufleet.live.mapping import parse_mapping
from gpufleet.live.plan import naive_utc
from gpufleet.live.runner import SubprocessRunner, command_text
from gpufleet.live.slurm import SlurmCliSource

RUNNING_JOBS = (
    "Running jobs are never cancelled: a cap lowered below what an account's jobs hold "
    "stops new starts only, until they finish."
)


def _instant(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"--at {text!r}: not an instant (expected ISO 8601, e.g. 2026-07-01T12:00:00Z)"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _settings(args: argparse.Namespace) -> tuple[LiveSettings, dict[str, str]]:
    live = load_settings(Path(args.config))
    slurm = live.model.sources.slurm
    if slurm is None or slurm.mode != "commands":
        raise InputError(
            f"{live.path}: sources.slurm: applying needs Slurm through its commands "
            "(expected 'slurm: {mode: commands}')"
        )
    return live, dict(slurm.env)


def _desired(
    args: argparse.Namespace, store: Store, live: LiveSettings, env: dict[str, str]
) -> DesiredState:
    with store.read() as s:
        rows = read_rows(s)
    mapping = parse_mapping(live.mapping_text, str(live.mapping_path), default_catalog())
    cluster = ClusterSettings(args.cluster, GpuLimitStyle(args.gpu_limits), LeaseStyle(args.leases))
    nodes = None
    if cluster.leases is LeaseStyle.RESERVATION:
        nodes = {n.name: n.partitions for n in SlurmCliSource(SubprocessRunner(env)).nodes()}
    at = naive_utc(_instant(args.at)).replace(microsecond=0)
    return desired_state(rows, mapping, cluster, at, nodes)


def _value(v: object) -> str:
    if v is None:
        return "none"
    if isinstance(v, ReservationSpec):
        return f"{','.join(v.accounts)} on {v.nodes} {v.start} -> {v.end}"
    return str(v)


def render(p: Plan) -> str:
    d = p.desired
    out = [f"cluster {d.cluster} at {d.at.isoformat()}Z: {len(p.steps)} change(s)"]
    if p.unfinished:
        out.append(f"journal: {p.unfinished}")
    for s in p.steps:
        c = s.change
        what = f"{c.target} {c.attribute}".strip()
        verb = {Kind.ADD_ACCOUNT: "add account", Kind.SET: "set"}.get(c.kind, c.kind.value)
        out.append(f"{s.n}. {verb} {what}: {_value(c.before)} -> {_value(c.after)}")
        out += [f"     because {cause.text()}" for cause in c.causes]
        out.append(f"     runs    {command_text(s.forward)}")
        out.append(f"     undo    {command_text(s.inverse)}")
    out += [f"note: {n}" for n in d.notes]
    if any(s.change.lowers_cap for s in p.steps):
        out.append(RUNNING_JOBS)
    return "\n".join(out) + "\n"


def render_drift(drift: tuple[DriftFinding, ...], enforce: bool) -> str:
    if not drift:
        return ""
    what = "reverted (--enforce)" if enforce else "not reverted (--enforce would)"
    return "".join(f"drift: {d.text()}; {what}\n" for d in drift)


def to_json(p: Plan) -> dict[str, Any]:
    return {
        "cluster": p.desired.cluster,
        "at": p.desired.at.isoformat() + "Z",
        "unfinished": p.unfinished or None,
        "changes": [s.record() for s in p.steps],
        "notes": list(p.desired.notes),
        "running_jobs": RUNNING_JOBS,
        "desired": [asdict(x) | {"causes": len(x.causes)} for x in p.desired.settings],
    }


def cmd_apply_slurm(args: argparse.Namespace) -> int:
    live, env = _settings(args)
    runner = SubprocessRunner(env)
    with open_store(args) as store:
        if args.status:
            sys.stdout.write(render_status(journal_status(store, args.cluster)))
            return ExitCode.OK
        desired = _desired(args, store, live, env)
        sorted_ = classify(store, runner, desired, args.enforce)
        drift = read_findings(runner, args.cluster, sorted_.drift, desired.at)
        if not args.apply:
            p = plan(desired, runner, store, sorted_.keep)
            if args.json:
                out = to_json(p) | {"drift": [d.as_dict() for d in drift]}
                sys.stdout.write(json.dumps(out, indent=2) + "\n")
            else:
                sys.stdout.write(render(p) + render_drift(drift, args.enforce))
            return ExitCode.OK
        lock = Path(args.lock_file) if args.lock_file else default_lock_path(args.cluster)
        executor = SubprocessExecutor(env)
        with apply_lock(lock):
            audit_drift(store, f"cli:{args.actor}", args.cluster, drift, args.enforce)
            if args.rollback_unfinished:
                print(
                    roll_back_unfinished(args.cluster, runner, executor, store, f"cli:{args.actor}")
                )
                return ExitCode.OK
            done = apply(
                desired, runner, executor, store, f"cli:{args.actor}",
                keep=sorted_.keep, baseline=sorted_.baseline,
            )  # fmt: skip
        if args.json:
            print(json.dumps(to_json(done.plan) | {"run": done.run}, indent=2))
        else:
            sys.stdout.write(render(done.plan) + render_drift(drift, args.enforce))
            print(f"applied and verified (journal run {done.run})" if done.run else "nothing to do")
    return ExitCode.OK


def add_commands(sub: Any) -> None:
    a = sub.add_parser("apply", help="make a scheduler enforce the register (plan, apply, verify)")
    asub = a.add_subparsers(dest="scheduler", required=True)
    s = asub.add_parser("slurm", help="the diff with a Slurm cluster; --apply makes it")
    s.add_argument("--cluster", required=True, help="Slurm's ClusterName")
    s.add_argument("--config", required=True, help="the live configuration (Slurm, mapping)")
    s.add_argument("--at", help="the instant to enact (ISO 8601; default now)")
    s.add_argument("--json", action="store_true", help="the plan as JSON")
    s.add_argument("--apply", action="store_true", help="make the changes (default: only show)")
    s.add_argument("--gpu-limits", choices=[x.value for x in GpuLimitStyle], default="total",
                   help="GrpTRES=gres/gpu=N (total) or gres/gpu:TYPE=N (typed)")  # fmt: skip
    s.add_argument("--leases", choices=[x.value for x in LeaseStyle], default="quota",
                   help="a transfer moves caps only (quota) or also reserves nodes")  # fmt: skip
    s.add_argument("--lock-file", help="the apply lock (default $XDG_RUNTIME_DIR or /tmp)")
    s.add_argument("--rollback-unfinished", action="store_true",
                   help="with --apply: undo what an apply cut short left applied")  # fmt: skip
    s.add_argument("--enforce", action="store_true",
                   help="also revert drift (what no schedule explains)")  # fmt: skip
    s.add_argument("--status", action="store_true",
                   help="the journal: latest runs, outcomes, drift")  # fmt: skip
    db_arg(s)
    s.set_defaults(fn=cmd_apply_slurm)
    add_kueue(asub, _instant)
