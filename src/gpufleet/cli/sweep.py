"""``gpufleet sweep``: change templates over a grid of values, every cell under N seeds.

Writes ``sweep.csv`` (one row per cell), ``sweep.json`` (the same with the spec) and a heat
map of one metric over the grid's two axes into ``-o DIR``, and prints a short table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from gpufleet.api import article_scenario_path
from gpufleet.cli.common import ProgressBar
from gpufleet.errors import ExitCode, InputError
from gpufleet.inputs.scenario.load import load_scenario
from gpufleet.planning.sweep import (
    LocalExecutor,
    RayExecutor,
    RunPool,
    SweepFile,
    SweepResult,
    SweepSpec,
    build_cells,
    import_ray,
    load_sweep_file,
    metric_names,
    output_paths,
    parse_grid,
    parse_template,
    run_sweep,
    write_heatmap,
)

DEFAULT_SEEDS = 3


def _spec(args: argparse.Namespace) -> tuple[SweepSpec, SweepFile | None]:
    if args.file and (args.template or args.grid):
        raise InputError(
            "--file: give the templates and the grid in the file or as flags, not both"
        )
    if args.file:
        file = load_sweep_file(args.file)
        return file.spec, file
    templates = tuple(parse_template(t) for t in args.template or [])
    axes = tuple(parse_grid(g) for g in args.grid or [])
    return SweepSpec(templates, axes), None


def _executor(args: argparse.Namespace) -> RunPool:
    if args.ray:
        import_ray()  # a missing Ray is bad input, said before anything runs
        return RayExecutor(args.ray, args.workers if args.workers > 1 else None)
    return LocalExecutor(args.workers)


def cmd_sweep(args: argparse.Namespace) -> int:
    # every input is checked before the (possibly long) run, so a typo costs no waiting
    if args.workers < 1:
        raise InputError(f"--workers {args.workers}: at least 1")
    out = Path(args.out)
    if not out.parent.is_dir():
        raise InputError(f"-o {out}: folder {out.parent} does not exist")
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out}: is a file; give a folder")
    spec, file = _spec(args)
    seeds_n = args.seeds if args.seeds is not None else (file and file.seeds) or DEFAULT_SEEDS
    if seeds_n < 1:
        raise InputError(f"--seeds {seeds_n}: at least 1")
    base_path = args.base or (file.scenario if file else None) or article_scenario_path()
    base = load_scenario(base_path)
    names = metric_names(base)
    metric = args.metric or (file.metric if file else None) or names[0]
    if metric not in names:
        raise InputError(
            f"--metric {metric!r}: not a figure of this sweep; figures: " + ", ".join(names)
        )
    if len(spec.axes) > 2 and not args.no_heatmap:
        raise InputError(
            f"a heat map needs 1 or 2 grid axes, not {len(spec.axes)}; add --no-heatmap"
        )
    # every cell's changes checked against the base, before running
    _, scenarios, _ = build_cells(base, spec)
    executor = _executor(args)
    # each distinct scenario runs once per seed (run_sweep)
    bar = ProgressBar("sweep", total=len(scenarios) * seeds_n, unit="runs")
    t0 = time.perf_counter()
    result = run_sweep(base, spec, [base.seed + i for i in range(seeds_n)], executor, bar)
    bar.close()
    wall = time.perf_counter() - t0
    d = result.to_dict()
    out.mkdir(exist_ok=True)
    paths = output_paths(out, metric)
    paths["csv"].write_text(result.to_csv(), encoding="utf-8")
    paths["json"].write_text(json.dumps(d, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    written = [paths["csv"], paths["json"]]
    if not args.no_heatmap:
        write_heatmap(result, metric, paths["png"])
        written.append(paths["png"])
    if args.json:
        print(json.dumps(d, indent=2, sort_keys=True))
        return ExitCode.OK
    print(render(result, metric))
    n_runs = result.distinct_scenarios * len(result.seeds)
    print(
        f"\n{len(result.cells)} cells ({result.distinct_scenarios} distinct scenarios) x "
        f"{len(result.seeds)} seeds = {n_runs} runs on {executor.label}"
        f" in {wall:.1f} s"
    )
    print("wrote " + ", ".join(str(p) for p in written))
    return ExitCode.OK


def render(result: SweepResult, metric: str) -> str:
    """One line per cell: its values, the chosen metric's mean and 95% interval, each
    milestone's mean delay, stranded GPU-days and utilisation."""
    axes = [a.name for a in result.spec.axes]
    delays = [m for m in result.metrics if m.endswith(".milestone_delay_days") and m != metric]
    head = [*axes, f"{metric} (95% CI)", *delays, "fleet.stranded_gpu_days", "fleet.utilisation"]
    rows = []
    for c in result.cells:
        m = c["metrics"]
        e = m[metric]
        ci = "" if e["ci95_low"] is None else f" [{_fmt(e['ci95_low'])}, {_fmt(e['ci95_high'])}]"
        rows.append(
            [
                *(c["values"][a] for a in axes),
                _fmt(e["mean"]) + ci,
                *(_fmt(m[d]["mean"]) for d in delays),
                _fmt(m["fleet.stranded_gpu_days"]["mean"]),
                f"{m['fleet.utilisation']['mean']:.3f}",
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    lines = [
        "  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True)) for r in [head, *rows]
    ]
    return f"gpufleet sweep: {result.base}\n" + "\n".join(line.rstrip() for line in lines)


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.2f}"


def add_commands(sub: Any) -> None:
    s = sub.add_parser("sweep", help="run change templates over a grid of values and seeds")
    s.add_argument("base", nargs="?", help="scenario file (default: the article's)")
    s.add_argument(
        "--template",
        action="append",
        metavar="T",
        help="[KIND:] a change with {NAME} placeholders (a move unless KIND is given), "
        "e.g. '{gpus} H100 tesla->xai@xai-memphis {start}' (repeat for several changes)",
    )
    s.add_argument(
        "--grid",
        action="append",
        metavar="NAME=V1,V2,...",
        help="an axis of the grid: the values of placeholder {NAME} (repeat)",
    )
    s.add_argument("--file", help="a YAML sweep file (templates, grid, seeds, metric)")
    s.add_argument("--seeds", type=int, help=f"seeds per cell (default {DEFAULT_SEEDS})")
    s.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    s.add_argument(
        "--ray",
        metavar="ADDR",
        help="run on a Ray cluster: its address, 'auto', or 'local' to start one here "
        "(the ray extra: pip install 'gpufleet[ray]')",
    )
    s.add_argument("--metric", help="the heat map's figure (default: the first milestone delay)")
    s.add_argument("--no-heatmap", action="store_true", help="write no PNG")
    s.add_argument("-o", "--out", default="sweep-out", help="output folder (default sweep-out)")
    s.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    s.set_defaults(fn=cmd_sweep)
