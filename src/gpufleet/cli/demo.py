"""``gpufleet demo``: the article's scenario (keep the GPUs or move them), its HTML report
over a few seeds, and the article's move as a governed transfer in a SQLite register."""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from gpufleet.api import article_scenario_path, run_variants
from gpufleet.cli import output
from gpufleet.cli.common import ProgressBar, scenario_or_article
from gpufleet.domain.scenario import Scenario
from gpufleet.errors import ExitCode, InputError
from gpufleet.governance.store.db import Store
from gpufleet.governance.transfers.story import article_governance_path, governed_move
from gpufleet.inputs.scenario.bounds import seed_arg
from gpufleet.planning.report.compare import comparison
from gpufleet.planning.report.labels import over_seeds
from gpufleet.planning.whatif.compare import Comparison, compare
from gpufleet.sim.result import SimResult
from gpufleet.sim.simulator import Simulation

DEMO_REGISTER = "demo-register.db"
DEMO_REPORT_DIR = Path("out") / "demo-report"
SERVE_PERSON = "group-ceo"
"""The person the dashboard hint names: the article's requester, who heads both companies."""


def cmd_demo(args: argparse.Namespace) -> int:
    report_dir = _demo_report_dir(args)
    sc = scenario_or_article(args.scenario)
    bar = ProgressBar("demo")
    t0 = time.perf_counter()
    results = run_variants(sc, args.seed, bar)
    bar.close()
    wall = time.perf_counter() - t0
    if args.json:
        print(json.dumps({n: r.to_dict() for n, r in results.items()}, indent=2, sort_keys=True))
        if report_dir:  # stdout stays one JSON document
            output.note(f"Report: {_demo_report(sc, args, report_dir, results)}")
        return ExitCode.OK
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
    return ExitCode.OK


def _demo_governance(report_dir: Path | None) -> str:
    """The article's move as a governed transfer in a SQLite register (no server): kept
    beside the report, or (``--no-report``) in a temporary folder removed afterwards."""
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        return render_governance(
            _governed_story(report_dir / DEMO_REGISTER), report_dir / DEMO_REGISTER
        )
    with tempfile.TemporaryDirectory(prefix="gpufleet-demo-") as folder:
        story = _governed_story(Path(folder) / DEMO_REGISTER)
    return render_governance(story, None)


def _governed_story(db: Path) -> dict[str, Any]:
    db.unlink(missing_ok=True)  # the demo's own file, remade on every run
    store = Store(f"sqlite:///{db}")
    try:
        store.upgrade()
        return governed_move(store, article_scenario_path(), article_governance_path())
    finally:
        store.dispose()


def render_governance(story: dict[str, Any], db: Path | None) -> str:
    """The governed transfer's story; ``db`` is where its register is kept (None: it was
    temporary and is gone)."""
    v, a = story["verdict"], story["assessment"]
    c = a["charge"]
    where = f"SQLite register {db}" if db else "a temporary SQLite register, removed"
    lines = [f"Governed transfer ({where}; no server):"]
    lines.append(
        f"  {a['transfer']}: worth ${v['value_usd']:,.0f}, price ${c['price_usd']:,.0f}, "
        f"state {story['state']}"
    )
    shifts = ", ".join(
        f"{p} {m['milestone']['shift_days']['mean']:+.1f} d "
        f"({over_seeds(m['milestone']['shift_days'])})"
        for p, m in a["programs"].items()
        if m["milestone"]
    )
    st = a["stranded_gpu_days"]
    lines.append(
        f"  assessment, with the move vs without: milestones {shifts}; stranded "
        f"{st['without']['mean']:,.0f} -> {st['with']['mean']:,.0f} GPU-days "
        "(`gpufleet whatif` runs more seeds, with 95% intervals)"
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
    if db is not None:
        url = f"sqlite:///{db}"
        lines.append(
            "  in the dashboard: gpufleet admin create-token --role fleet-admin --person "
            f"{SERVE_PERSON} --db {url} && gpufleet serve --db {url}"
        )
        if not _installed("fastapi"):  # a bare install: say what serve will ask for
            lines.append("    (serve needs the service extra: pip install 'gpufleet[service]')")
    return "\n".join(lines)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


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
    # imported here: matplotlib takes half a second to load, and only reports need it
    from gpufleet.planning.report.html import write_report

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


def add_commands(sub: Any) -> None:
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
