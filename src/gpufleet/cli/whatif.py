"""``gpufleet whatif``: a base scenario against variants, over seeds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gpufleet.api import article_scenario_path
from gpufleet.cli.common import ProgressBar
from gpufleet.cli.output import note
from gpufleet.domain.scenario import Scenario
from gpufleet.errors import ExitCode, InputError
from gpufleet.inputs.scenario.load import load_scenario
from gpufleet.planning.report.whatif import render_comparison
from gpufleet.planning.whatif.arms import build_arms
from gpufleet.planning.whatif.changes import PARSERS
from gpufleet.planning.whatif.compare import compare


def arms_from(args: argparse.Namespace) -> tuple[str, dict[str, Scenario]]:
    sc = load_scenario(args.base or article_scenario_path())
    changes = [(kind, text) for kind in PARSERS for text in getattr(args, kind) or []]
    return build_arms(sc, args.base_variant, args.variant or [], changes, args.name)


def cmd_whatif(args: argparse.Namespace) -> int:
    if args.seeds < 1:
        raise InputError(f"--seeds {args.seeds}: at least 1")
    if args.workers < 1:
        raise InputError(f"--workers {args.workers}: at least 1")
    if args.out and not Path(args.out).parent.is_dir():
        raise InputError(f"--out {args.out}: folder {Path(args.out).parent} does not exist")
    if args.report:
        # imported here: matplotlib takes half a second to load, and only reports need it
        from gpufleet.planning.report.html import check_folder

        check_folder(Path(args.report), "--report")
    base_name, arms = arms_from(args)
    seed0 = arms[base_name].seed
    bar = ProgressBar("whatif", total=len(arms) * args.seeds, unit="runs")
    c = compare(
        base_name,
        arms,
        [seed0 + i for i in range(args.seeds)],
        args.workers,
        bar,
        args.market_rate,
        args.markup,
    )
    bar.close()
    d = c.to_dict()
    if args.out:
        out = Path(args.out)
        out.mkdir(exist_ok=True)
        (out / "whatif.json").write_text(json.dumps(d, indent=2, sort_keys=True) + "\n")
    print(json.dumps(d, indent=2, sort_keys=True) if args.json else render_comparison(d))
    if args.report:
        from gpufleet.planning.report.html import write_report  # matplotlib: as above

        page = write_report(c, Path(args.report))
        # with --json, stdout stays one JSON document
        if args.json:
            note(f"Report: {page}")
        else:
            print(f"Report: {page}")
    return ExitCode.OK


def add_commands(sub: Any) -> None:
    w = sub.add_parser("whatif", help="compare a base scenario with variants over seeds")
    w.add_argument("base", nargs="?", help="scenario file (default: the article's)")
    w.add_argument(
        "--variant",
        action="append",
        help="a variant file, or the name of a variant in the base file (repeat)",
    )
    w.add_argument("--base-variant", help="use this named variant of the file as the base")
    for kind, help_text in (
        ("move", "N TYPE FROM->TO[@SITE] DATE[..END] [price=USD] [pool=NAME]"),
        ("quota", "PROGRAM TYPE=N DATE [borrow=N] [lend=N]"),
        ("weight", "PROGRAM=W"),
        ("deliver", "N TYPE ENTITY@SITE DATE [value=USD] [per-node=8]"),
        ("delay", "SITE +Nd"),
        ("policy", "NAME"),
        ("scale", "PROGRAM xF"),
    ):
        w.add_argument(f"--{kind}", action="append", metavar="SPEC", help=help_text)
    w.add_argument("--name", help="name of the variant the change flags make (default: changes)")
    w.add_argument("--seeds", type=int, default=5, help="seeds per arm (default 5)")
    w.add_argument("--workers", type=int, default=1, help="local worker processes")
    w.add_argument(
        "--market-rate", type=float, help="charge transfers at this $/GPU-hour instead of cost-plus"
    )
    w.add_argument("--markup", type=float, default=0.0, help="cost-plus margin (0.1 = 10%%)")
    w.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    w.add_argument("--out", help="folder to write whatif.json into")
    w.add_argument(
        "--report",
        metavar="DIR",
        help="write an HTML report with plots (report.html, PNGs, whatif.json) into DIR",
    )
    w.set_defaults(fn=cmd_whatif)
