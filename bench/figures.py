"""From measured cases to the figures the issue asks for, and their Markdown summary.

Input: ``{case name: {"spec", "repeats", "median", "samples"}}`` as ``run.py`` collects it.
Output sections:

- ``synthetic``: one row per synthetic run (wall s, jobs/s, events/s, peak RSS, and
  events/s over the bare heap's and over the pure-Python limit's on the same jobs);
- ``limit``: the pure-Python limit's runs, our fifo's events/s over its
  (:mod:`figures_limits`);
- ``compiled``: with ``--compiled``, the compiled core's runs against the pure core's;
- ``baseline``: the bare heapq loop;
- ``targets``: each target's value, the measured median and whether it was met (``None``
  when the run it needs was not part of this invocation, as under ``--quick``), the
  comparisons' targets last (ours over the limit, each policy within 3x of fifo);
- ``growth``: microseconds per event and per cycle against job count (fifo, GPUs = jobs /
  10), the largest/smallest ratio, and the same job count on a 10x fleet;
- ``demo``: the article scenario's ``run_variants`` wall time;
- ``whatif``: the article's what-if (2 variants x 10 seeds) and the 48-cell sweep on 1 and
  2 local workers, with the speed-up.
"""

from __future__ import annotations

from typing import Any

from figures_limits import (
    AIM_EVENTS_PER_S,
    ISSUE_TARGET_EVENTS_PER_S,
    comparison_targets,
    compiled_rows,
    limit_events_per_s,
    limit_rows,
    md_compiled,
    md_limit,
)

Cases = dict[str, dict[str, Any]]

TARGET_JOBS, TARGET_GPUS = 1_000_000, 100_000
TARGET_WALL_S = 60.0  # the 1M-job run on one core
TARGET_EVENTS_PER_S = ISSUE_TARGET_EVENTS_PER_S  # end to end, scenario build to result
TARGET_WHATIF_S = 30.0  # the article's what-if, 2 variants x 10 seeds, one core
TARGET_PARSE_S = 10.0  # 1,000,000-row sacct or CSV export
TARGET_PARSE_MIB = 2048.0
TARGET_BYTES_PER_JOB = 100.0  # issue 16: the 1M-job run's memory per submitted job
TARGET_REPLAY_S = 5.0  # Philly's 82k jobs on 2,490 GPUs, load + replay
TARGET_CYCLE_P99_MS = 50.0  # one cycle, 10,000 pending jobs, 100k GPUs


def size_label(n: int) -> str:
    """10_000 -> '10k', 1_000_000 -> '1M'."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def find(cases: Cases, **spec: Any) -> tuple[str, dict[str, Any]] | None:
    """The case whose spec has these values, if it was measured."""
    for name, c in cases.items():
        if all(c["spec"].get(k) == v for k, v in spec.items()):
            return name, c
    return None


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 4)


def synthetic_rows(cases: Cases, heap_eps: float | None) -> list[dict[str, Any]]:
    rows = []
    for name, c in cases.items():
        spec, m = c["spec"], c["median"]
        if spec["kind"] != "synthetic":
            continue
        rows.append(
            {
                "case": name,
                **{k: spec[k] for k in ("jobs", "gpus", "policy", "load")},
                "repeats": c["repeats"],
                "wall_s": round(m["wall_s"], 3),
                "sim_wall_s": m["sim_wall_s"],
                "jobs_per_s": round(m["jobs_per_s"]),
                "events_per_s": round(m["events_per_s"]),
                "events_per_s_vs_bare_heap": _ratio(m["events_per_s"], heap_eps),
                "events_per_s_vs_limit": _ratio(
                    m["events_per_s"], limit_events_per_s(cases, spec["jobs"], spec["gpus"])
                ),
                "peak_rss_mib": round(m["peak_rss_mib"], 1),
                "bytes_per_job": bytes_per_job(m),
                "events": m["events"],
                "cycles": m["cycles"],
                "jobs_submitted": m["jobs_submitted"],
                "jobs_finished": m["jobs_finished"],
                "utilisation": m["utilisation"],
            }
        )
    return rows


def bytes_per_job(m: dict[str, Any]) -> float | None:
    """Memory per submitted job: (peak RSS - RSS after the imports) / jobs submitted, so
    the interpreter and the libraries do not count, the fleet's state and the run's
    buffers do."""
    after_import = m.get("rss_after_import_mib")
    if after_import is None or not m.get("jobs_submitted"):
        return None
    return round((m["peak_rss_mib"] - after_import) * 2**20 / m["jobs_submitted"], 1)


def baseline(cases: Cases) -> dict[str, Any] | None:
    hit = find(cases, kind="heap")
    if hit is None:
        return None
    name, c = hit
    return {
        "case": name,
        "method": "hold model: pop the earliest (time, seq) tuple, push one later; "
        "heap size constant at `pending`",
        "events": c["spec"]["events"],
        "pending": c["spec"]["pending"],
        "repeats": c["repeats"],
        "wall_s": round(c["median"]["wall_s"], 3),
        "events_per_s": round(c["median"]["events_per_s"]),
        "us_per_event": round(c["median"]["us_per_event"], 4),
    }


def _target(
    name: str, what: str, value: float, unit: str, measured: float | None
) -> dict[str, Any]:
    lower_is_better = unit == "s"
    met = (
        None if measured is None else (measured <= value if lower_is_better else measured >= value)
    )
    return {
        "name": name,
        "description": what,
        "target": value,
        "unit": unit,
        "better": "lower" if lower_is_better else "higher",
        "measured": None if measured is None else round(measured, 3),
        "met": met,
    }


def targets(cases: Cases) -> list[dict[str, Any]]:
    out = []
    size = f"{size_label(TARGET_JOBS)} jobs on {size_label(TARGET_GPUS)} GPUs"
    for policy in ("fifo", "drf"):
        hit = find(cases, kind="synthetic", jobs=TARGET_JOBS, gpus=TARGET_GPUS, policy=policy)
        m = hit[1]["median"] if hit else {}
        out.append(
            _target(
                f"wall_s_{size_label(TARGET_JOBS)}_jobs_{policy}",
                f"{size}, {policy}: wall seconds end to end, one core",
                TARGET_WALL_S,
                "s",
                m.get("wall_s"),
            )
        )
        out.append(
            {
                **_target(
                    f"events_per_s_{size_label(TARGET_JOBS)}_jobs_{policy}",
                    f"{size}, {policy}: events per second end to end (aim {AIM_EVENTS_PER_S:,.0f})",
                    TARGET_EVENTS_PER_S,
                    "events/s",
                    m.get("events_per_s"),
                ),
                "aim": AIM_EVENTS_PER_S,
            }
        )
        out.append(
            {
                **_target(
                    f"bytes_per_job_{size_label(TARGET_JOBS)}_jobs_{policy}",
                    f"{size}, {policy}: (peak RSS - RSS after imports) / jobs submitted",
                    TARGET_BYTES_PER_JOB,
                    "s",  # lower is better, as for seconds
                    bytes_per_job(m) if m else None,
                ),
                "unit": "B",
            }
        )
    for fmt in ("sacct", "csv"):
        hit = find(cases, kind="parse", format=fmt)
        m = hit[1]["median"] if hit else {}
        out.append(
            _target(
                f"wall_s_parse_1M_{fmt}",
                f"parse a 1,000,000-row {fmt} export",
                TARGET_PARSE_S,
                "s",
                m.get("wall_s"),
            )
        )
        mib = m.get("peak_rss_mib")
        out.append(
            {
                **_target(
                    f"peak_mib_parse_1M_{fmt}",
                    f"peak memory parsing 1M {fmt} rows",
                    TARGET_PARSE_MIB,
                    "s",
                    mib,
                ),
                "unit": "MiB",
            }
        )
    for policy in ("fifo", "drf"):
        hit = find(cases, kind="replay", policy=policy)
        out.append(
            _target(
                f"wall_s_replay_philly_{policy}",
                f"replay philly-2017 (82k jobs, 2,490 GPUs) under {policy}",
                TARGET_REPLAY_S,
                "s",
                hit[1]["median"]["wall_s"] if hit else None,
            )
        )
    for policy in ("fifo", "drf", "quota"):
        hit = find(cases, kind="cycle", policy=policy)
        out.append(
            {
                **_target(
                    f"cycle_p99_ms_{policy}",
                    f"one {policy} cycle, 10,000 pending jobs on 100k GPUs: p99",
                    TARGET_CYCLE_P99_MS,
                    "s",
                    hit[1]["median"]["p99_ms"] if hit else None,
                ),
                "unit": "ms",
            }
        )
    hit = find(cases, kind="whatif")
    out.append(
        _target(
            "wall_s_article_whatif",
            "article what-if, 2 variants x 10 seeds: wall seconds end to end, one core",
            TARGET_WHATIF_S,
            "s",
            hit[1]["median"]["wall_s"] if hit else None,
        )
    )
    return out


def _point(c: dict[str, Any]) -> dict[str, Any]:
    s, m = c["spec"], c["median"]
    return {
        "jobs": s["jobs"],
        "gpus": s["gpus"],
        "load": s["load"],
        "events": m["events"],
        "cycles": m["cycles"],
        "finished_jobs": m["jobs_finished"],
        "utilisation": m["utilisation"],
        "us_per_event": round(m["us_per_event"], 3),
        "us_per_cycle": round(m["us_per_cycle"], 3),
        "late_over_early": _ratio(m.get("late_over_early"), 1.0),
    }


def growth(cases: Cases, sizes: tuple[int, ...]) -> dict[str, Any]:
    """Cost per event and per cycle must stay flat as finished jobs and idle GPUs pile up."""
    hits = [
        find(cases, kind="synthetic", policy="fifo", jobs=j, gpus=j // 10, load=1.0) for j in sizes
    ]
    points = [_point(h[1]) for h in hits if h]
    small, large = (points[0], points[-1]) if points else ({}, {})
    out: dict[str, Any] = {
        "policy": "fifo",
        "fleet": "GPUs = jobs / 10, load 1.0",
        "points": points,
        "us_per_event_largest_over_smallest": _ratio(
            large.get("us_per_event"), small.get("us_per_event")
        ),
        "us_per_cycle_largest_over_smallest": _ratio(
            large.get("us_per_cycle"), small.get("us_per_cycle")
        ),
    }
    idle = next((c for c in cases.values() if _is_big_fleet(c["spec"])), None)
    if idle is not None:
        jobs = idle["spec"]["jobs"]
        busy = find(cases, kind="synthetic", policy="fifo", jobs=jobs, gpus=jobs // 10, load=1.0)
        p = _point(idle)
        b = _point(busy[1]) if busy else {}
        out["big_fleet"] = {
            "point": p,
            "compared_with": b or None,
            "us_per_event_ratio": _ratio(p["us_per_event"], b.get("us_per_event")),
            "us_per_cycle_ratio": _ratio(p["us_per_cycle"], b.get("us_per_cycle")),
        }
    return out


def _is_big_fleet(spec: dict[str, Any]) -> bool:
    return bool(spec["kind"] == "synthetic" and spec["gpus"] >= spec["jobs"])


def demo(cases: Cases) -> dict[str, Any] | None:
    hit = find(cases, kind="demo")
    if hit is None:
        return None
    c = hit[1]
    return {
        "what": "gpufleet.run_variants on the article scenario (what `gpufleet demo` runs)",
        "variants": c["median"]["variants"],
        "repeats": c["repeats"],
        "wall_s": round(c["median"]["wall_s"], 3),
        "events": c["median"]["events"],
        "peak_rss_mib": round(c["median"]["peak_rss_mib"], 1),
    }


def whatif(cases: Cases) -> dict[str, Any] | None:
    """The what-if planner: the article's comparison over seeds, and the sweep's wall time
    on 1 and 2 local workers (speed-up = 1-worker seconds / 2-worker seconds)."""
    hit = find(cases, kind="whatif")
    sweeps = sorted(
        (c for c in cases.values() if c["spec"]["kind"] == "sweep"),
        key=lambda c: int(c["spec"]["workers"]),
    )
    if hit is None and not sweeps:
        return None
    out: dict[str, Any] = {}
    if hit:
        c = hit[1]
        out["article"] = {
            "case": hit[0],
            "variants": c["spec"]["variants"],
            "seeds": c["spec"]["seeds"],
            "runs": c["median"]["runs"],
            "repeats": c["repeats"],
            "wall_s": round(c["median"]["wall_s"], 3),
            "s_per_run": round(c["median"]["s_per_run"], 3),
        }
    if sweeps:
        m = sweeps[0]["median"]
        by = {int(c["spec"]["workers"]): c["median"]["wall_s"] for c in sweeps}
        out["sweep"] = {
            "cells": m["cells"],
            "distinct_scenarios": m["distinct_scenarios"],
            "seeds": sweeps[0]["spec"]["seeds"],
            "runs": m["runs"],
            "repeats": sweeps[0]["repeats"],
            "wall_s_by_workers": {str(w): round(t, 3) for w, t in by.items()},
            "speedup_2_over_1": _ratio(by.get(1), by.get(2)),
        }
    return out


def build_sections(
    cases: Cases,
    sizes: tuple[int, ...],
    policies: dict[str, Any] | None = None,
    compiled: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every section from the run's cases, its per-policy results (``policies_bench``'s
    dict, None when skipped) and its compiled-core runs (None without ``--compiled``)."""
    base = baseline(cases)
    heap_eps = base["events_per_s"] if base else None
    headline = max(sizes)
    compared = comparison_targets(cases, policies, headline, headline // 10)
    out_compiled = (
        None if compiled is None else {**compiled, "rows": compiled_rows(compiled, cases)}
    )
    return {
        "targets": targets(cases) + compared,
        "synthetic": synthetic_rows(cases, heap_eps),
        "limit": limit_rows(cases),
        "compiled": out_compiled,
        "baseline": base,
        "growth": growth(cases, sizes),
        "demo": demo(cases),
        "whatif": whatif(cases),
    }


# --- Markdown --------------------------------------------------------------------------


def _num(x: float | None, nd: int = 0) -> str:
    return "n/a" if x is None else f"{x:,.{nd}f}"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _md_header(r: dict[str, Any]) -> list[str]:
    m, g, rep = r["machine"], r["git"], r["repeats"]
    commit = (g["commit"] or "unknown")[:12] + (" (uncommitted changes)" if g["dirty"] else "")
    return [
        "# gpufleet benchmark results",
        "",
        f"{r['generated_at']}, mode **{r['mode']}**, commit {commit}.  ",
        f"{m['cpu_model']}, {m['cpu_count']} CPUs, {m['memory_gib']} GiB, "
        f"Python {m['python']} ({m['platform']}). Load average (1 min) before/after: "
        f"{r['load_average_1m']['before']}/{r['load_average_1m']['after']}.  ",
        f"Repeats per case: {rep['default']}; {rep['large_runs_are']}: {rep['large_runs']}. "
        "Figures are medians. Each repeat ran in a fresh process pinned to one CPU, one at "
        "a time.  ",
        "Every sample is in `results.json`; what each figure means is in `README.md`.",
    ]


def _md_targets(r: dict[str, Any]) -> list[str]:
    mark = {True: "yes", False: "**no**", None: "not run"}
    rows = []
    for t in r["targets"]:
        nd = 2 if t["unit"].startswith("x") else 1  # ratios: 0.42, 2.88
        measured = t.get("over") or _num(t["measured"], nd)
        target = f"{_num(t['target'], 2 if nd == 2 else 0)} {t['unit']}"
        rows.append([t["description"], target, measured, mark[t["met"]]])
    return ["", "## Targets", "", *_table(["target", "value", "measured", "met"], rows)]


def _md_synthetic(r: dict[str, Any]) -> list[str]:
    head = ["case", "wall s", "jobs/s", "events/s", "vs bare heap", "vs limit", "peak RSS MiB"]
    head += ["B/job", "repeats"]
    rows = [
        [
            s["case"],
            _num(s["wall_s"], 2),
            _num(s["jobs_per_s"]),
            _num(s["events_per_s"]),
            _num(s["events_per_s_vs_bare_heap"], 3),
            _num(s["events_per_s_vs_limit"], 3),
            _num(s["peak_rss_mib"]),
            _num(s.get("bytes_per_job"), 1),
            str(s["repeats"]),
        ]
        for s in r["synthetic"]
    ]
    if not rows:  # --only without a synthetic case
        return []
    out = ["", "## Synthetic runs (end to end: build scenario, simulate, build result)", ""]
    out += _table(head, rows)
    b = r["baseline"]
    if b:
        out += [
            "",
            f"Bare heapq baseline: {_num(b['events'])} events, heap of {_num(b['pending'])} "
            f"pending, **{_num(b['events_per_s'])} events/s** ({b['us_per_event']} µs/event).",
        ]
    return out


def _md_growth(r: dict[str, Any]) -> list[str]:
    g = r["growth"]
    head = ["jobs", "GPUs", "load", "events", "utilisation", "µs/event", "µs/cycle", "late/early"]
    pts = list(g["points"])
    big = g.get("big_fleet")
    if big:
        pts.append(big["point"])
    rows = [
        [
            _num(p["jobs"]),
            _num(p["gpus"]),
            f"{p['load']:g}",
            _num(p["events"]),
            f"{p['utilisation']:.3f}",
            _num(p["us_per_event"], 2),
            _num(p["us_per_cycle"], 2),
            _num(p["late_over_early"], 3),
        ]
        for p in pts
    ]
    if not rows:
        return []
    out = ["", f"## Growth curve ({g['policy']}, {g['fleet']}; last row: 10x fleet)", ""]
    out += _table(head, rows)
    out += [
        "",
        f"Largest over smallest: µs/event **{_num(g['us_per_event_largest_over_smallest'], 3)}**, "
        f"µs/cycle **{_num(g['us_per_cycle_largest_over_smallest'], 3)}** (flat is 1). "
        "late/early: median µs/cycle over the second half of a run's cycles against the "
        "first half (flat is 1; n/a under 150,000 events).",
    ]
    if big:
        out.append(
            f"10x fleet at the same job count over the busy fleet: µs/event "
            f"**{_num(big['us_per_event_ratio'], 3)}**, µs/cycle "
            f"**{_num(big['us_per_cycle_ratio'], 3)}**."
        )
    return out


def _md_demo(r: dict[str, Any]) -> list[str]:
    d = r["demo"]
    if not d:
        return []
    return [
        "",
        "## Article demo",
        "",
        f"`run_variants` on the article scenario ({', '.join(d['variants'])}): "
        f"**{d['wall_s']:.2f} s**, {_num(d['events'])} events, peak RSS "
        f"{_num(d['peak_rss_mib'])} MiB (median of {d['repeats']}).",
    ]


def _md_whatif(r: dict[str, Any]) -> list[str]:
    w = r.get("whatif")
    if not w:
        return []
    out = ["", "## What-if and sweep (article scenario)", ""]
    a = w.get("article")
    if a:
        out.append(
            f"- `gpufleet whatif` ({', '.join(a['variants'])} x {a['seeds']} seeds = {a['runs']} "
            f"runs, one core): **{a['wall_s']:.2f} s** ({a['s_per_run']:.2f} s per run, "
            f"median of {a['repeats']})."
        )
    sw = w.get("sweep")
    if sw:
        by = sw["wall_s_by_workers"]
        times = ", ".join(
            f"{t:.1f} s on {n} worker{'s' if n != '1' else ''}" for n, t in by.items()
        )
        out.append(
            f"- `gpufleet sweep`, {sw['cells']} cells ({sw['distinct_scenarios']} distinct "
            f"scenarios) x {sw['seeds']} seed = {sw['runs']} runs: {times} (each worker on its "
            f"own CPU); speed-up **{_num(sw['speedup_2_over_1'], 2)}x**."
        )
    return out


def _md_cycles(r: dict[str, Any]) -> list[str]:
    rows = [
        [
            name.removeprefix("cycle-100k-gpus-10k-pending-"),
            f"{c['median']['median_ms']:.3f}",
            f"{c['median']['p99_ms']:.3f}",
            f"{c['median']['pending_after']:,.0f}",
        ]
        for name, c in r.get("cases", {}).items()
        if c["spec"].get("kind") == "cycle"
    ]
    if not rows:
        return []
    return [
        "",
        "## One scheduling cycle, 10,000 jobs pending on 100k GPUs",
        "",
        "Each of 300 cycles follows one job's completion on a full fleet; only the cycle "
        "is timed (median of repeats of each statistic).",
        "",
        *_table(["policy", "median ms", "p99 ms", "pending after"], rows),
    ]


def markdown(results: dict[str, Any]) -> str:
    parts = (
        _md_header,
        _md_targets,
        _md_synthetic,
        md_limit,
        md_compiled,
        _md_growth,
        _md_demo,
        _md_whatif,
        _md_cycles,
    )
    return "\n".join(line for part in parts for line in part(results)) + "\n"
