"""``gpufleet validate``: check a scenario file and list every problem (exit 2 if any)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from gpufleet.cli import output
from gpufleet.errors import ExitCode, ScenarioError
from gpufleet.inputs.scenario.load import load_scenario


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        sc = load_scenario(args.scenario)
    except ScenarioError as e:
        if args.json:
            problems = [dataclasses.asdict(p) for p in e.problems]
            print(json.dumps({"valid": False, "problems": problems}, indent=2))
        else:
            output.error(e.render(), prefix="")
        return ExitCode.BAD_INPUT
    if args.json:
        print(json.dumps({"valid": True, "problems": []}))
    else:
        n_pools = sum(p.gpu_count for p in sc.pools)
        print(
            f"{args.scenario}: valid ({len(sc.sites)} sites, {len(sc.pools)} pools, "
            f"{n_pools:,} GPUs, {len(sc.programs())} programs, {len(sc.variants)} variants)"
        )
    return ExitCode.OK


def add_commands(sub: Any) -> None:
    v = sub.add_parser("validate", help="check a scenario file and list every problem")
    v.add_argument("scenario")
    v.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    v.set_defaults(fn=cmd_validate)
