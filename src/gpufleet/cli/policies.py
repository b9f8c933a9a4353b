"""``gpufleet policies``: the scheduling engine's policies, then the reproductions'."""

from __future__ import annotations

import argparse
import json
from typing import Any

from gpufleet.errors import ExitCode
from gpufleet.labs.fgd.policies import FGD_POLICIES
from gpufleet.labs.gavel.policies import GAVEL_POLICIES
from gpufleet.policies.registry import available_policies


def cmd_policies(args: argparse.Namespace) -> int:
    rows = available_policies()
    if args.json:
        print(json.dumps([{"name": n, "summary": s, "options": o} for n, s, o in rows], indent=2))
        return ExitCode.OK
    width = max(len(n) for n, _, _ in rows)
    for name, summary, opts in rows:
        extra = f" (options: {', '.join(opts)})" if opts else ""
        print(f"{name.ljust(width)}  {summary}{extra}")
    if not args.engine_only:
        print("\nheterogeneous GPU types, whole-GPU jobs (gpufleet.labs.gavel; bench/gavel.py):")
        for gavel in GAVEL_POLICIES.entries():
            print(f"  {gavel.name.ljust(width - 2)}  {gavel.summary}")
        print("\nfractional GPUs, pod placement (gpufleet.labs.fgd; bench/fgd.py):")
        # best first: the lab keeps the artifact's order, 01-Random to 06-FGD
        for fgd in reversed(FGD_POLICIES.entries()):
            print(f"  {fgd.name.ljust(width - 2)}  {fgd.summary}")
    return ExitCode.OK


def add_commands(sub: Any) -> None:
    pol = sub.add_parser("policies", help="list the scheduling policies")
    pol.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    pol.add_argument(
        "--engine-only",
        action="store_true",
        help="only the scheduling engine's (not the heterogeneity and GPU-sharing simulators')",
    )
    pol.set_defaults(fn=cmd_policies)
