"""Rerun the forecast's validation against the real dev cluster and write its results.

    scripts/devcluster/up                      # once, as root
    .venv/bin/python bench/forecast_validation.py [--seed 12] [--jobs 80] [--runs 1]
                                                  [--xai-gpus 2 | --xai-mixed]
    .venv/bin/python bench/forecast_validation.py --from-json   # the docs block again

Writes ``bench/forecast_validation.json`` (every run's figures) and the tagged block
``forecast`` of docs/validation.md (the section "Forecast against a real Slurm"). The
scene, step by step, is in ``tests/live/forecast_workload.py``; each run takes about
3 minutes (a minute for Slurm to set priorities, two for the workload).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from gpufleet.live.forecast_compare import Agreement

ROOT = Path(__file__).resolve().parent.parent
# the scene lives with the live tests, which share it: the repository root on the path
sys.path.insert(0, str(ROOT))

from bench.mdblocks import replace_md_block  # noqa: E402  (the same helper as bench/fgd.py)
from tests.live.devcluster import find_devcluster  # noqa: E402
from tests.live.forecast_workload import (  # noqa: E402
    MIXED_XAI_GPUS,
    XAI_GPUS,
    Outcome,
    run_validation,
)


def as_json(o: Outcome) -> dict[str, Any]:
    out = asdict(o)
    out["release"] = o.release.isoformat()
    return out


def fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def block(runs: list[Outcome]) -> list[str]:
    """The docs section's figures: one row per order or forecast, medians over runs."""
    o = runs[0]
    rows = [
        (
            "forecast, run times given (sleep + 1 s), Slurm's fair-share factors",
            [r.told for r in runs],
        ),
        ("the same, fair-share computed from Slurm's usage", [r.computed for r in runs]),
        ("forecast, time limits only (60 s), Slurm's factors", [r.limits for r in runs]),
        ("naive: submit order", [r.by_submit for r in runs]),
        (
            "naive: accounts by Slurm's fair-share factor, then submit order",
            [r.by_fairshare for r in runs],
        ),
    ]
    sizes = "mixed, " + ", ".join(map(str, MIXED_XAI_GPUS)) if o.xai_gpus is None else o.xai_gpus
    lines = [
        f"Measured by `bench/forecast_validation.py` ({len(runs)} run(s), seeds "
        f"{', '.join(str(r.seed) for r in runs)}, {o.jobs} jobs each, xai's jobs "
        f"{sizes} GPUs; the last job started "
        f"{statistics.median(r.last_start_s for r in runs):.0f} s after release, median). "
        f"Policy `{o.policy}` with {', '.join(f'{k}={v}' for k, v in sorted(o.options.items()))}; "
        f"Slurm's fair-share factors at release: "
        f"{', '.join(f'{a} {f:.3f}' for a, f in sorted(o.fairshare.items()))}.",
        "",
        "| order | Kendall tau-b | median start error (s) | 90th pct (s) |",
        "|---|---|---|---|",
    ]
    for name, agreements in rows:
        tau = statistics.median(a.tau for a in agreements)
        med = [a.median_error_s for a in agreements if a.median_error_s is not None]
        p90 = [a.p90_error_s for a in agreements if a.p90_error_s is not None]
        lines.append(
            f"| {name} | {tau:.3f} | {fmt(statistics.median(med) if med else None, 1)} | "
            f"{fmt(statistics.median(p90) if p90 else None, 1)} |"
        )
    lines += [
        "",
        "Per run (forecast with run times given and Slurm's factors; the naive orders):",
        "",
        "| seed | Kendall tau-b | median start error (s) | submit order | accounts by fair-share |",
        "|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.seed} | {r.told.tau:.3f} | {fmt(r.told.median_error_s, 1)} | "
            f"{r.by_submit.tau:.3f} | {r.by_fairshare.tau:.3f} |"
        )
    lines += [
        "",
        f"Settings the policy was not given: {', '.join(o.not_modelled) or 'none'}. "
        f"Forecast wall time {statistics.median(r.forecast_wall_s for r in runs) * 1000:.0f} ms.",
    ]
    return lines


def from_json(o: dict[str, Any]) -> Outcome:
    """An outcome as :func:`as_json` wrote it."""
    timed = ("told", "computed", "limits", "by_submit", "by_fairshare")
    fields: dict[str, Any] = {k: Agreement(**v) if k in timed else v for k, v in o.items()}
    fields["release"] = datetime.fromisoformat(o["release"])
    fields["not_modelled"] = tuple(o["not_modelled"])
    return Outcome(**fields)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--jobs", type=int, default=80)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "forecast_validation.json"))
    ap.add_argument("--doc", default=str(ROOT / "docs" / "validation.md"))
    ap.add_argument(
        "--record",
        default="",
        help="save each run's Slurm answers and actual starts under RECORD/seed-N "
        "(replayed by tests/live/forecast_workload.py's replay_scene)",
    )
    ap.add_argument(
        "--from-json",
        action="store_true",
        help="write the docs block again from OUT's runs, without running anything",
    )
    ap.add_argument(
        "--xai-gpus",
        type=int,
        default=XAI_GPUS,
        help=f"every xai job's size (default {XAI_GPUS})",
    )
    ap.add_argument(
        "--xai-mixed",
        action="store_true",
        help="xai's jobs of mixed sizes, as in the runs recorded until 2026-12-07",
    )
    args = ap.parse_args()
    xai_gpus = None if args.xai_mixed else args.xai_gpus
    if args.from_json:
        saved = json.loads(Path(args.out).read_text())
        replace_md_block(Path(args.doc), "forecast", block([from_json(o) for o in saved]))
        return 0
    cluster, why = find_devcluster()
    if cluster is None:
        print(f"cannot validate: {why}", file=sys.stderr)
        return 2
    runs: list[Outcome] = []
    with cluster.exclusive():
        for k in range(args.runs):
            seed = args.seed + k
            record = Path(args.record) / f"seed-{seed}" if args.record else None
            runs.append(run_validation(cluster, seed, args.jobs, record=record, xai_gpus=xai_gpus))
            r = runs[-1]
            print(
                f"seed {r.seed}: tau told {r.told.tau:.3f} (median error "
                f"{fmt(r.told.median_error_s, 1)} s), computed {r.computed.tau:.3f}, "
                f"limits {r.limits.tau:.3f}, submit "
                f"{r.by_submit.tau:.3f}, fair-share {r.by_fairshare.tau:.3f}"
            )
    Path(args.out).write_text(json.dumps([as_json(r) for r in runs], indent=1) + "\n")
    replace_md_block(Path(args.doc), "forecast", block(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
