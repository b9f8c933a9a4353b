"""``gpufleet meter`` and ``gpufleet statement`` (docs/metering.md).

``gpufleet meter --config live.yaml --period 2026-12 [--cluster NAME] [--sacct-file F]``:
GPU-seconds per program and owner's pool in the period from sacct (allocated) and the
stored DCGM samples (busy), written to the register (again: the same rows).

``gpufleet statement --period 2026-12 --from tesla --to xai --format csv|json|html -o F``:
what xai used of tesla's GPUs in the metered period, priced at the agreed price, cost-plus
and market; the statement is committed to the audit chain (same figures: same version).
Without ``--from``/``--to``: one statement per related pair, in the folder ``-o``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from gpufleet.cli.store import db_arg, open_store
from gpufleet.domain import default_catalog
from gpufleet.errors import ExitCode, InputError
from gpufleet.governance.register.plan import plan_scenario
from gpufleet.live.config import load_settings
from gpufleet.live.mapping import parse_mapping
from gpufleet.live.metering.issue import issue
from gpufleet.live.metering.period import Period, period_of
from gpufleet.live.metering.render import to_csv, to_html, to_json
from gpufleet.live.metering.run import meter
from gpufleet.live.metering.sacct import NAME_MAX, TIME_ENV, sacct_command
from gpufleet.live.metering.statement import Statement, related_pairs, statement
from gpufleet.live.metering.store import read_period
from gpufleet.live.metering.terms import pool_facts, transfer_terms
from gpufleet.live.runner import SubprocessRunner, command_text
from gpufleet.live.slurm import SlurmCliSource

FORMATS = ("csv", "json", "html")


def _period(args: argparse.Namespace) -> Period:
    return period_of(args.period, args.since, args.until)


def _sacct_lines(args: argparse.Namespace, env: dict[str, str], p: Period) -> tuple[str, list[str]]:
    if args.sacct_file:
        try:
            text = Path(args.sacct_file).read_text()
        except OSError as e:
            raise InputError(
                f"--sacct-file {args.sacct_file}: cannot be read ({e.strerror})"
            ) from None
        return args.sacct_file, text.splitlines()
    argv = sacct_command(p.start, p.end)
    text = SubprocessRunner(env | TIME_ENV, timeout_s=600).run(argv)
    return command_text(argv), text.splitlines()


def cmd_meter(args: argparse.Namespace) -> int:
    live = load_settings(Path(args.config))
    slurm = live.model.sources.slurm
    if not args.sacct_file and (slurm is None or slurm.mode != "commands"):
        raise InputError(
            f"--config {live.path}: sources.slurm: metering reads sacct through Slurm's "
            "commands (expected 'slurm: {mode: commands}'), or give --sacct-file"
        )
    env = dict(slurm.env) if slurm else {}
    if args.cluster is None and args.sacct_file:
        raise InputError("--cluster: needed with --sacct-file (Slurm's ClusterName)")
    cluster = args.cluster or SlurmCliSource(SubprocessRunner(env)).config().cluster
    if not 0 < len(cluster) <= NAME_MAX:
        raise InputError(f"--cluster {cluster[:20]!r}...: expected 1 to {NAME_MAX} characters")
    p = _period(args)
    mapping = parse_mapping(live.mapping_text, str(live.mapping_path), default_catalog())
    source, lines = _sacct_lines(args, env, p)
    with open_store(args) as store:
        done, changed = meter(
            store, mapping, cluster, p, source, lines, datetime.now(UTC), f"cli:{args.actor}"
        )
    if args.json:
        body = {
            "cluster": cluster, "from": p.key()[0], "to": p.key()[1], "jobs": done.jobs,
            "changed": changed, "unmapped": list(done.unmapped),
            "rows": [vars(r.key) | {"gpu_seconds": r.gpu_seconds, "jobs": r.jobs}
                     for r in done.records],
        }  # fmt: skip
        print(json.dumps(body, indent=2))
        return ExitCode.OK
    print(f"cluster {cluster}, {p.label()}: {done.jobs} job(s) with GPUs in the period")
    for r in done.records:
        k = r.key
        print(f"  {k.source:5} {k.entity or '?'}/{k.program or '?'} ({k.account or '-'}) on "
              f"{k.owner or '?'}'s {k.pool or k.site or '?'} {k.gpu_type}: "
              f"{r.gpu_hours:.4f} GPU-h")  # fmt: skip
    for name in done.unmapped:
        print(f"  unmapped: {name} (its GPU-seconds are stored with '' for what it lacks)")
    same = [s for s, c in changed.items() if not c]
    print("stored" + (f"; unchanged since the last metering: {', '.join(same)}" if same else ""))
    return ExitCode.OK


def _check_entities(args: argparse.Namespace, entities: set[str]) -> None:
    if (args.giver is None) != (args.taker is None):
        flag = "--to" if args.taker is None else "--from"
        raise InputError(f"{flag}: missing (give --from and --to, or neither for every pair)")
    for flag, name in (("--from", args.giver), ("--to", args.taker)):
        if name is not None and name not in entities:
            raise InputError(
                f"{flag} {name!r}: no such entity in the register "
                f"(expected one of {', '.join(sorted(entities))})"
            )
    if args.giver is not None and args.giver == args.taker:
        raise InputError("--from and --to: the same entity (expected two entities)")


def _statements(args: argparse.Namespace, s: Session, p: Period) -> list[Statement]:
    plan = plan_scenario(s)
    _check_entities(args, {str(e.name) for e in plan.entities})
    records = read_period(s, p)
    if not records:
        raise InputError(
            f"--period: nothing metered for {p.label()} "
            "(expected `gpufleet meter --period ...` first)"
        )
    terms = transfer_terms(s, plan)
    pairs = [(args.giver, args.taker)] if args.giver else related_pairs(records, terms, p)
    pools = pool_facts(plan)
    return [statement(p, g, t, records, pools, terms, args.market_rate) for g, t in pairs]


def _targets(args: argparse.Namespace, sts: list[Statement]) -> list[Path | None]:
    """Where each statement goes, checked writable before anything is issued: ``-o FILE``
    (one pair), ``-o FOLDER`` (every pair: GIVER-TAKER.FORMAT in it), or stdout."""
    if args.giver is None:
        if not args.output or not Path(args.output).is_dir():
            raise InputError(
                f"-o {args.output or ''}: every pair needs an existing folder "
                "(expected -o FOLDER, or --from and --to for one statement)"
            )
        return [Path(args.output) / f"{x.giver}-{x.taker}.{args.format}" for x in sts]
    if args.output and args.output != "-":
        return [Path(args.output)]
    return [None]


def cmd_statement(args: argparse.Namespace) -> int:
    p = _period(args)
    if args.market_rate is not None and args.market_rate < 0:
        raise InputError(f"--market-rate {args.market_rate:g}: expected $/GPU-hour >= 0")
    with open_store(args) as store:
        with store.read() as s:
            sts = _statements(args, s, p)
        targets = _targets(args, sts)
        for target in targets:
            _writable(target)
        for st, target in zip(sts, targets, strict=True):
            doc = to_json(st)
            with store.write(f"cli:{args.actor}") as tx:
                issued = issue(tx, doc)
            text = _render(args.format, st, doc, issued.digest, issued.version)
            if target is None:
                sys.stdout.write(text)
            else:
                target.write_text(text)
            what = "issued" if issued.new else "the same as issued"
            print(f"statement {st.giver} -> {st.taker} {p.label()}: version {issued.version} "
                  f"{what}, sha256 {issued.digest}", file=sys.stderr)  # fmt: skip
    if not sts:
        print(f"no related pair used another's GPUs in {p.label()}", file=sys.stderr)
    return ExitCode.OK


def _writable(target: Path | None) -> None:
    if target is None:
        return
    try:
        with target.open("a"):
            pass
    except OSError as e:
        raise InputError(f"-o {target}: cannot be written ({e.strerror})") from None


def _render(fmt: str, st: Any, doc: dict[str, Any], digest: str, version: int) -> str:
    if fmt == "json":
        return json.dumps(doc | {"version": version, "sha256": digest}, indent=2) + "\n"
    if fmt == "csv":
        return to_csv(st)
    return to_html(st, digest, version)


def _period_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--period", help="a calendar month, YYYY-MM (UTC)")
    p.add_argument("--since", help="instead of --period: the start (ISO date or instant)")
    p.add_argument("--until", help="instead of --period: the end, excluded")


def add_commands(sub: Any) -> None:
    m = sub.add_parser("meter", help="GPU-seconds per program and owner from sacct and DCGM")
    m.add_argument("--config", required=True, help="the live configuration (Slurm, mapping)")
    _period_args(m)
    m.add_argument("--cluster", help="Slurm's ClusterName (default: scontrol's)")
    m.add_argument("--sacct-file", help="a saved `sacct -P` answer instead of running sacct")
    m.add_argument("--json", action="store_true", help="the rows as JSON")
    db_arg(m)
    m.set_defaults(fn=cmd_meter)
    s = sub.add_parser("statement", help="an intercompany statement for a metered period")
    _period_args(s)
    s.add_argument("--from", dest="giver", help="the entity whose GPUs were used (default: all)")
    s.add_argument("--to", dest="taker", help="the entity that used them (with --from)")
    s.add_argument(
        "--format", choices=FORMATS, default="json", help="the statement's form (default: json)"
    )
    s.add_argument("-o", "--output", help="the file (a folder for every pair; default: stdout)")
    s.add_argument("--market-rate", type=float, help="$/GPU-hour (default: the assessment's)")
    db_arg(s)
    s.set_defaults(fn=cmd_statement)
