"""``gpufleet simulate``: one run of a scenario file, as a table or JSON, with its jobs as
CSV on request."""

from __future__ import annotations

import argparse
import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gpufleet.cli.common import ProgressBar, check_writable, scenario_or_article, write_file
from gpufleet.errors import ExitCode
from gpufleet.inputs.scenario.bounds import seed_arg
from gpufleet.planning.report.compare import comparison
from gpufleet.policies.registry import make_policy
from gpufleet.sim.simulator import Simulation


def cmd_simulate(args: argparse.Namespace) -> int:
    # every input is checked before the (possibly long) run, so a typo costs no waiting
    for flag, out in (("--out", args.out), ("--jobs-csv", args.jobs_csv)):
        if out:
            check_writable(flag, Path(out))
    policy = make_policy(args.policy) if args.policy else None
    sc = scenario_or_article(args.scenario)
    if args.variant:
        sc = sc.variant(args.variant)
    bar = ProgressBar("simulate", total=sc.horizon_s / 86_400, unit="sim-days")
    res = Simulation(sc, policy, args.seed, bar).run()
    bar.close()
    if args.jobs_csv:
        write_file("--jobs-csv", Path(args.jobs_csv), jobs_csv(res.jobs))
    text = res.to_json(with_run=args.timing) if args.json else comparison({res.policy: res})
    if args.out:
        write_file("--out", Path(args.out), res.to_json(with_run=args.timing) + "\n")
    print(text)
    return ExitCode.OK


def jobs_csv(jobs: Mapping[str, Any]) -> str:
    """One row per finished job, one column per array of the run's ``jobs``."""
    buf = io.StringIO()
    w = csv.writer(buf)
    cols = list(jobs)
    w.writerow(cols)
    w.writerows(zip(*(jobs[c].tolist() for c in cols), strict=True))
    return buf.getvalue()


def add_commands(sub: Any) -> None:
    s = sub.add_parser("simulate", help="simulate a scenario file")
    s.add_argument("scenario")
    s.add_argument("--variant", help="a variant named in the file")
    s.add_argument("--policy", help="override the scenario's policy (see 'gpufleet policies')")
    s.add_argument("--seed", type=seed_arg, help="override the scenario's seed")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.add_argument("--out", help="also write the JSON result to this file")
    s.add_argument("--jobs-csv", help="write one row per finished job to this CSV file")
    s.add_argument(
        "--timing",
        action="store_true",
        help="include wall time and event counts in the JSON (not reproducible)",
    )
    s.set_defaults(fn=cmd_simulate)
