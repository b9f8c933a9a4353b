"""The ``gpufleet`` command. The outermost ring: it maps errors to exit codes here only.

Exit codes: 0 ok, 2 bad input (the message says where and what), 1 internal error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from gpufleet.api import article_scenario_path, run_variants
from gpufleet.cli.common import write_text_atomic
from gpufleet.domain.scenario import Scenario
from gpufleet.errors import (
    AccessError,
    BusyError,
    GpufleetError,
    InputError,
    ScenarioError,
    exit_code,
)
from gpufleet.inputs.scenario.bounds import seed_arg
from gpufleet.inputs.scenario.load import load_scenario
from gpufleet.planning.report.compare import comparison
from gpufleet.policies.registry import available_policies, make_policy
from gpufleet.sim.result import SimResult
from gpufleet.sim.simulator import Simulation


class ProgressBar:
    """A bar on stderr, shown only once a run has taken over ``after_s`` seconds and only
    when stderr is a terminal (logs stay clean)."""

    def __init__(
        self, label: str, stream: TextIO = sys.stderr, after_s: float = 2.0, force: bool = False
    ) -> None:
        self.label = label
        self.stream = stream
        self.t0 = time.monotonic()
        self.after_s = after_s
        self.enabled = force or stream.isatty()
        self.shown = False

    def __call__(self, fraction: float) -> None:
        if not self.enabled or time.monotonic() - self.t0 < self.after_s:
            return
        n = int(max(0.0, min(1.0, fraction)) * 30)
        self.stream.write(f"\r{self.label} [{'#' * n}{'.' * (30 - n)}] {fraction * 100:5.1f}%")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")


def _scenario(path: str | None) -> Scenario:
    return load_scenario(path or article_scenario_path())


def cmd_demo(args: argparse.Namespace) -> int:
    report_dir = _demo_report_dir(args)
    sc = _scenario(args.scenario)
    bar = ProgressBar("demo")
    t0 = time.perf_counter()
    results = run_variants(sc, args.seed, bar)
    bar.close()
    wall = time.perf_counter() - t0
    if args.json:
        print(json.dumps({n: r.to_dict() for n, r in results.items()}, indent=2, sort_keys=True))
        if report_dir:  # stdout stays one JSON document
            print(f"Report: {_demo_report(sc, args, report_dir, results)}", file=sys.stderr)
        return 0
    print(f"gpufleet demo: {sc.name}")
    if sc.description:
        print(sc.description)
    for v in sc.variants:
        print(f"  {v.name}: {v.description}")
    print()
    print(comparison(results))
    print()
    print(f"Every figure marked ASSUMPTION in the scenario file can be changed: {sc.source_file}")
    print(f"({len(results)} runs, seed {next(iter(results.values())).seed}, {wall:.1f} s)")
    if report_dir:
        print(f"Report: {_demo_report(sc, args, report_dir, results)}")
    if args.scenario is None and not args.no_governance:
        print()
        print(_demo_governance(report_dir))
    return 0


DEMO_REGISTER = "demo-register.db"


def _demo_governance(report_dir: Path | None) -> str:
    """The article's move as a governed transfer in a SQLite register (no server)."""
    import tempfile

    from gpufleet.governance.store.db import Store
    from gpufleet.governance.transfers.story import article_governance_path, governed_move

    folder = report_dir or Path(tempfile.mkdtemp(prefix="gpufleet-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / DEMO_REGISTER
    db.unlink(missing_ok=True)  # the demo's own file, remade on every run
    store = Store(f"sqlite:///{db}")
    try:
        store.upgrade()
        story = governed_move(store, article_scenario_path(), article_governance_path())
    finally:
        store.dispose()
    return render_governance(story, db)


def render_governance(story: dict[str, Any], db: Path) -> str:
    v, a = story["verdict"], story["assessment"]
    c = a["charge"]
    lines = [f"Governed transfer (SQLite register {db}; no server):"]
    lines.append(
        f"  {a['transfer']}: worth ${v['value_usd']:,.0f}, price ${c['price_usd']:,.0f}, "
        f"state {story['state']}"
    )
    shifts = ", ".join(
        f"{p} {m['milestone']['shift_days']['mean']:+.1f} d"
        for p, m in a["programs"].items()
        if m["milestone"]
    )
    st = a["stranded_gpu_days"]
    lines.append(
        f"  assessment ({len(a['seeds'])} seed), with the move vs without: milestones "
        f"{shifts}; stranded {st['without']['mean']:,.0f} -> {st['with']['mean']:,.0f} GPU-days"
    )
    flag = "BELOW FAIR VALUE" if c["below_fair_value"] else "at or above fair value"
    lines.append(
        f"  fair charge ({c['rule']}): ${c['fair_usd']:,.0f} owed by {c['payer']} to "
        f"{c['payee']}; price ${c['price_usd']:,.0f}: {flag}"
    )
    need = "independent " if v["needs_independent"] else ""
    lines.append(
        f"  {'related-party' if v['related'] else 'arm-length'} transfer: needs "
        f"{v['approvals_required']} {need}approvals"
    )
    ok = [e["name"] for e in v["eligibility"] if e["eligible"]]
    lines.append(f"    may approve: {', '.join(ok) or 'nobody'}")
    for e in v["eligibility"]:
        if not e["eligible"]:
            why = "; ".join(r["message"].removeprefix(f"{e['name']} ") for r in e["reasons"])
            lines.append(f"    may not: {e['name']}: {why}")
    if story["requester_refused"]:
        lines.append(f"  the requester's own approval was refused: {story['requester_refused']}")
    lines.append(f"  {story['audit']}")
    return "\n".join(lines)


DEMO_REPORT_DIR = Path("out") / "demo-report"


def _demo_report_dir(args: argparse.Namespace) -> Path | None:
    """Where the demo writes its report, checked before any run (None: no report). The
    default folder is made with its parents when the report is written; a folder given must
    have an existing parent."""
    if args.no_report:
        return None
    if args.report_seeds < 1:
        raise InputError(f"--report-seeds {args.report_seeds}: at least 1")
    # imported here: matplotlib takes half a second to load, and only reports need it
    from gpufleet.planning.report.html import check_folder

    if args.report_dir is None:
        for path in (DEMO_REPORT_DIR.parent, DEMO_REPORT_DIR):
            if path.exists() and not path.is_dir():
                raise InputError(f"{path}: is a file; move it or give --report-dir DIR")
        return DEMO_REPORT_DIR
    folder = Path(args.report_dir)
    check_folder(folder, "--report-dir")
    return folder


def _demo_report(
    sc: Scenario, args: argparse.Namespace, folder: Path, done: dict[str, SimResult]
) -> Path:
    """The what-if report of the demo's variants over ``--report-seeds`` seeds: the first
    variant is the base (keep, for the article); a single variant is compared with the
    scenario as written. The runs the tables came from are the first seed's (a run is a
    pure function of scenario and seed), so only the other seeds run again."""
    from gpufleet.planning.report.html import write_report
    from gpufleet.planning.whatif.compare import Comparison, compare

    names = [v.name for v in sc.variants]
    if len(names) < 2:
        names = ["base", *names]
    arms = {n: sc.variant(n) for n in names}
    seeds = [next(iter(done.values())).seed + i for i in range(args.report_seeds)]
    bar = ProgressBar("report")
    rest = compare(names[0], arms, seeds[1:], progress=bar)
    bar.close()
    runs = {
        n: [done[n] if n in done else Simulation(arms[n], seed=seeds[0]).run(), *rest.results[n]]
        for n in names
    }
    folder.parent.mkdir(parents=True, exist_ok=True)  # out/ for the default folder
    return write_report(Comparison(names[0], arms, seeds, runs), folder)


def cmd_simulate(args: argparse.Namespace) -> int:
    # every input is checked before the (possibly long) run, so a typo costs no waiting
    for flag, out in (("--out", args.out), ("--jobs-csv", args.jobs_csv)):
        if out:
            _check_writable(flag, Path(out))
    policy = make_policy(args.policy) if args.policy else None
    sc = _scenario(args.scenario)
    if args.variant:
        sc = sc.variant(args.variant)
    bar = ProgressBar("simulate")
    res = Simulation(sc, policy, args.seed, bar).run()
    bar.close()
    if args.jobs_csv:
        _write("--jobs-csv", Path(args.jobs_csv), _jobs_csv(res.jobs))
    text = res.to_json(with_run=args.timing) if args.json else comparison({res.policy: res})
    if args.out:
        _write("--out", Path(args.out), res.to_json(with_run=args.timing) + "\n")
    print(text)
    return 0


def _check_writable(flag: str, path: Path) -> None:
    parent = path.parent
    if path.is_dir():
        raise InputError(f"{flag} {path}: is a directory; give a file path")
    if not parent.is_dir():
        raise InputError(f"{flag} {path}: no such directory {str(parent)!r}; create it first")


def _write(flag: str, path: Path, text: str) -> None:
    """Write ``text`` whole or not at all: a failed write leaves an existing file as it was."""
    try:
        write_text_atomic(path, text)
    except OSError as e:
        raise InputError(f"{flag} {path}: cannot write: {e.strerror or e}") from None


def _jobs_csv(jobs: dict[str, Any]) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    cols = list(jobs)
    w.writerow(cols)
    w.writerows(zip(*(jobs[c].tolist() for c in cols), strict=True))
    return buf.getvalue()


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        sc = load_scenario(args.scenario)
    except ScenarioError as e:
        if args.json:
            problems = [dataclasses.asdict(p) for p in e.problems]
            print(json.dumps({"valid": False, "problems": problems}, indent=2))
        else:
            print(e.render(), file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"valid": True, "problems": []}))
    else:
        n_pools = sum(p.gpu_count for p in sc.pools)
        print(
            f"{args.scenario}: valid ({len(sc.sites)} sites, {len(sc.pools)} pools, "
            f"{n_pools:,} GPUs, {len(sc.programs())} programs, {len(sc.variants)} variants)"
        )
    return 0


def cmd_policies(args: argparse.Namespace) -> int:
    rows = available_policies()
    if args.json:
        print(json.dumps([{"name": n, "summary": s, "options": o} for n, s, o in rows], indent=2))
        return 0
    width = max(len(n) for n, _, _ in rows)
    for name, summary, opts in rows:
        extra = f" (options: {', '.join(opts)})" if opts else ""
        print(f"{name.ljust(width)}  {summary}{extra}")
    if not args.engine_only:
        from gpufleet.labs.fgd.policies import SUMMARIES as SHARING
        from gpufleet.labs.gavel.policies import SUMMARIES as HETERO

        print("\nheterogeneous GPU types, whole-GPU jobs (gpufleet.labs.gavel; bench/gavel.py):")
        for hname, hsummary in HETERO.items():
            print(f"  {hname.value.ljust(width - 2)}  {hsummary}")
        print("\nfractional GPUs, pod placement (gpufleet.labs.fgd; bench/fgd.py):")
        for sname, ssummary in SHARING.items():
            print(f"  {sname.value.ljust(width - 2)}  {ssummary}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gpufleet", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="the article's scenario: keep the GPUs or move them")
    d.add_argument("--scenario", help="another scenario file (default: the built-in one)")
    d.add_argument("--seed", type=seed_arg, help="override the scenario's seed")
    d.add_argument("--json", action="store_true", help="machine-readable output")
    d.add_argument(
        "--report-dir",
        metavar="DIR",
        help=f"write the HTML report with plots here (default: {DEMO_REPORT_DIR})",
    )
    d.add_argument("--no-report", action="store_true", help="print the tables only")
    d.add_argument(
        "--no-governance",
        action="store_true",
        help="skip the governed transfer (the article's move in a SQLite register)",
    )
    d.add_argument(
        "--report-seeds", type=int, default=3, help="seeds per variant in the report (default 3)"
    )
    d.set_defaults(fn=cmd_demo)
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
    v = sub.add_parser("validate", help="check a scenario file and list every problem")
    v.add_argument("scenario")
    v.add_argument("--json", action="store_true")
    v.set_defaults(fn=cmd_validate)
    pol = sub.add_parser("policies", help="list the scheduling policies")
    pol.add_argument("--json", action="store_true")
    pol.add_argument(
        "--engine-only",
        action="store_true",
        help="only the scheduling engine's (not the heterogeneity and GPU-sharing simulators')",
    )
    pol.set_defaults(fn=cmd_policies)
    from gpufleet.cli.explain import add_commands as add_explain
    from gpufleet.cli.export import add_commands as add_export
    from gpufleet.cli.service import add_commands as add_service
    from gpufleet.cli.sweep import add_commands as add_sweep
    from gpufleet.cli.trace import add_commands
    from gpufleet.cli.whatif import add_commands as add_whatif

    add_commands(sub)
    add_whatif(sub)
    add_sweep(sub)
    add_export(sub)
    add_explain(sub)
    add_service(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # argparse has printed the usage (exit 2) or the help (exit 0)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    try:
        return int(args.fn(args))
    except InputError as e:
        print(f"gpufleet: {e.render()}", file=sys.stderr)
        return exit_code(e)
    except AccessError as e:
        print(f"gpufleet: not allowed: {e}", file=sys.stderr)
        return exit_code(e)
    except BusyError as e:
        print(f"gpufleet: busy, nothing changed; run it again: {e}", file=sys.stderr)
        return exit_code(e)
    except GpufleetError as e:
        print(f"gpufleet: internal error: {e}", file=sys.stderr)
        return exit_code(e)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # the last line of defence: report, never a bare traceback
        print(f"gpufleet: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
