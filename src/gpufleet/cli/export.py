"""The ``gpufleet export TARGET SCENARIO`` command (part of the CLI ring): the allocation in
force at a date, written as a scheduler's configuration."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from gpufleet.cli.common import write_text_atomic
from gpufleet.domain.scenario import Scenario
from gpufleet.errors import ExitCode, InputError
from gpufleet.inputs.scenario.dates import as_datetime
from gpufleet.inputs.scenario.load import load_scenario
from gpufleet.planning.allocation import allocation_at, allocations, change_dates, check_instant
from gpufleet.planning.export import TARGETS, ExportFile, target


def parse_instant(text: str) -> datetime:
    """``--at``: a date (midnight UTC) or an ISO 8601 timestamp (UTC unless it says)."""
    try:
        return as_datetime(datetime.fromisoformat(text))
    except ValueError:
        raise InputError(
            f"--at {text}: not a date; expected YYYY-MM-DD or an ISO 8601 timestamp such as "
            "2024-06-15T06:00:00"
        ) from None


def folder_name(at: datetime) -> str:
    """A timeline folder: the date, with the time of day when it is not midnight."""
    return (
        at.date().isoformat()
        if at.time() == datetime.min.time()
        else at.strftime("%Y-%m-%dT%H-%M-%S")
    )


def _write(path: Path, text: str) -> None:
    """Whole or not at all: a failed write leaves an existing file as it was."""
    try:
        write_text_atomic(path, text)
    except OSError as e:
        raise InputError(f"-o {path.parent}: cannot write {path.name}: {e.strerror or e}") from None


def _out_dir(text: str) -> Path:
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out}: is a file; give a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"-o {out}: cannot create the folder: {e.strerror or e}") from None
    return out


def _exports(args: argparse.Namespace, sc: Scenario) -> list[tuple[str, ExportFile]]:
    """(folder, file) per export: one file, or one per date with --timeline."""
    t = target(args.target)
    if args.timeline:
        dates = set(change_dates(sc))
        return [(folder_name(a.at), t.write(a)) for a in allocations(sc) if a.at in dates]
    at = sc.start if args.at is None else parse_instant(args.at)
    try:
        check_instant(sc, at)
    except InputError as e:
        raise InputError(f"--at {args.at}: {e}") from None
    return [("", t.write(allocation_at(sc, at)))]


def cmd_export(args: argparse.Namespace) -> int:
    target(args.target)  # an unknown target fails before any loading
    if args.timeline and args.at:
        raise InputError("give --at or --timeline, not both")
    if args.at:
        parse_instant(args.at)
    sc = load_scenario(args.scenario)
    if args.variant:
        sc = sc.variant(args.variant)
    files = _exports(args, sc)
    if args.out is None:
        print("".join(f.text for _, f in files), end="")
        return ExitCode.OK
    out = _out_dir(args.out)
    for folder, f in files:
        where = out / folder if folder else out
        where.mkdir(exist_ok=True)
        _write(where / f.name, f.text)
        print(f"wrote {where / f.name}")
    return ExitCode.OK


def add_commands(sub: Any) -> None:
    names = ", ".join(TARGETS)
    e = sub.add_parser(
        "export",
        help="write the allocation in force at a date as a scheduler's configuration",
        description="Write the quotas in force at a date as the configuration of a "
        f"scheduler: {names}. See docs/exports.md for what maps and what does not.",
    )
    e.add_argument("target", help=f"the scheduler: {names}")
    e.add_argument("scenario", help="a scenario file")
    e.add_argument("--variant", help="a variant named in the file (default: the base scenario)")
    e.add_argument(
        "--at", help="a date (YYYY-MM-DD, midnight UTC) or ISO timestamp; default: the start"
    )
    e.add_argument(
        "--timeline",
        action="store_true",
        help="one export per date on which the quotas change (with -o: a folder per date)",
    )
    e.add_argument("-o", "--out", help="write into this folder instead of printing")
    e.set_defaults(fn=cmd_export)
