"""The figures of ``make bench`` that set our simulator against something else measured in
the same run: the pure-Python limit (``bench/fifo_limit.py``), every registered policy
against fifo (``bench/policies_bench.py``), and the compiled core against the pure one.

Each gives rows for the Targets table (:func:`comparison_targets`) and its own section of
``results.json`` and ``RESULTS.md``; :mod:`figures` puts them in place.
"""

from __future__ import annotations

from typing import Any

from policies_bench import SLURM_ARTICLE_TARGET_S, TARGET_RATIO

Cases = dict[str, dict[str, Any]]

# Issue 16: ">= 250k events/s" on the 1M-job run where "a minimal pure-Python strict-FIFO
# simulator on the same job mix does 592k": the target is that share of the limit, which
# a run on any machine can check against the limit it measured itself.
ISSUE_TARGET_EVENTS_PER_S = 250_000.0
ISSUE_LIMIT_EVENTS_PER_S = 592_000.0
AIM_EVENTS_PER_S = 500_000.0  # "aiming at 500k"
TARGET_OVER_LIMIT = ISSUE_TARGET_EVENTS_PER_S / ISSUE_LIMIT_EVENTS_PER_S


def limit_rows(cases: Cases) -> list[dict[str, Any]]:
    """One row per ``fifo-limit`` case, with our fifo on the same jobs beside it."""
    rows = []
    for name, c in cases.items():
        spec, m = c["spec"], c["median"]
        if spec["kind"] != "fifo-limit":
            continue
        ours = _ours(cases, spec["jobs"], spec["gpus"], "fifo")
        ours_cpu = _ours(cases, spec["jobs"], spec["gpus"], "fifo", per_cpu_s=True)
        rows.append(
            {
                "case": name,
                "jobs": spec["jobs"],
                "gpus": spec["gpus"],
                "repeats": c["repeats"],
                "events": m["events"],
                "wall_s": round(m["wall_s"], 3),
                "generate_s": round(m["generate_s"], 3),
                "events_per_s": round(m["events_per_s"]),
                "fifo_events_per_s": None if ours is None else round(ours),
                "fifo_over_limit": _ratio(ours, m["events_per_s"]),
                "events_per_cpu_s": round(m["events_per_cpu_s"]),
                "fifo_over_limit_cpu": _ratio(ours_cpu, m["events_per_cpu_s"]),
            }
        )
    return rows


def limit_events_per_s(cases: Cases, jobs: int, gpus: int) -> float | None:
    for c in cases.values():
        s = c["spec"]
        if s["kind"] == "fifo-limit" and s["jobs"] == jobs and s["gpus"] == gpus:
            return float(c["median"]["events_per_s"])
    return None


def _ours(cases: Cases, jobs: int, gpus: int, policy: str, per_cpu_s: bool = False) -> float | None:
    """Our synthetic run's events per second of wall time (or of CPU time)."""
    for c in cases.values():
        s = c["spec"]
        if (s["kind"], s["jobs"], s["gpus"], s["policy"], s["load"]) == (
            "synthetic",
            jobs,
            gpus,
            policy,
            1.0,
        ):
            m = c["median"]
            return float(m["events"] / m["cpu_s"] if per_cpu_s else m["events_per_s"])
    return None


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 4)


def _row(
    name: str, what: str, value: float, unit: str, measured: float | None, lower: bool
) -> dict[str, Any]:
    met = None if measured is None else (measured <= value if lower else measured >= value)
    return {
        "name": name,
        "description": what,
        "target": value,
        "unit": unit,
        "better": "lower" if lower else "higher",
        "measured": None if measured is None else round(measured, 4),
        "met": met,
    }


def comparison_targets(
    cases: Cases, policies: dict[str, Any] | None, jobs: int, gpus: int
) -> list[dict[str, Any]]:
    """Ours over the limit at ``jobs`` x ``gpus`` (fifo), then per policy and workload its
    CPU time over fifo's (at most 3), and slurm-multifactor's article CPU time."""
    ours, limit = _ours(cases, jobs, gpus, "fifo"), limit_events_per_s(cases, jobs, gpus)
    out = [
        _row(
            "fifo_over_pure_python_limit",
            f"{jobs:,} jobs on {gpus:,} GPUs, fifo: events/s over the pure-Python limit's "
            f"(minimal strict FIFO, same jobs); the issue's 250k over its 592k",
            round(TARGET_OVER_LIMIT, 3),
            "x limit",
            _ratio(ours, limit),
            lower=False,
        )
    ]
    if policies is None:
        return out
    for name, per in policies["policies"].items():
        if name == "fifo":
            continue
        for work, m in per.items():
            row = _row(
                f"x_fifo_{name}_{work}",
                f"{name} within {TARGET_RATIO:g}x of fifo: {_workload(m)}, CPU time",
                TARGET_RATIO,
                "x fifo",
                m.get("ratio_to_fifo"),
                lower=True,
            )
            if "timed_out_s" in m:
                row.update(met=False, over=f"> {m['timed_out_s']:.0f} s")
            out.append(row)
    slurm = policies["policies"].get("slurm-multifactor", {}).get("article")
    if slurm is not None:
        row = _row(
            "cpu_s_slurm_multifactor_article",
            "slurm-multifactor on the article: CPU seconds end to end",
            SLURM_ARTICLE_TARGET_S,
            "s",
            slurm.get("median", {}).get("cpu_s"),
            lower=True,
        )
        if "timed_out_s" in slurm:
            row.update(met=False, over=f"> {slurm['timed_out_s']:.0f} s")
        out.append(row)
    return out


def _workload(m: dict[str, Any]) -> str:
    s = m["spec"]
    return "article" if s["kind"] == "article" else f"synthetic {s['jobs']:,} x {s['gpus']:,}"


def compiled_rows(compiled: dict[str, Any] | None, cases: Cases) -> list[dict[str, Any]]:
    """The compiled core's synthetic runs beside the pure core's of the same size."""
    if not compiled or "cases" not in compiled:
        return []
    rows = []
    for name, c in compiled["cases"].items():
        s, m = c["spec"], c["median"]
        pure = _ours(cases, s["jobs"], s["gpus"], s["policy"])
        rows.append(
            {
                "case": name,
                "policy": s["policy"],
                "jobs": s["jobs"],
                "gpus": s["gpus"],
                "wall_s": round(m["wall_s"], 3),
                "events_per_s": round(m["events_per_s"]),
                "pure_events_per_s": None if pure is None else round(pure),
                "compiled_over_pure": _ratio(m["events_per_s"], pure),
            }
        )
    return rows


# --- Markdown --------------------------------------------------------------------------


def _n(x: float | None, nd: int = 0) -> str:
    return "n/a" if x is None else f"{x:,.{nd}f}"


def md_limit(r: dict[str, Any]) -> list[str]:
    rows = r.get("limit") or []
    if not rows:
        return []
    out = [
        "",
        "## The pure-Python limit (`bench/fifo_limit.py`)",
        "",
        "A minimal strict-FIFO simulator (heap of ends, FIFO queue with head-of-line "
        "blocking, per-node free counts with our best-fit placement) over exactly the "
        "synthetic scenario's jobs; every job starts at the instant our fifo starts it "
        "(`tests/test_bench_fifo_limit.py`). Its loop is timed; drawing the jobs is not. "
        "Ours / limit by CPU time too: on a shared machine it moves less with the load.",
        "",
        "| case | events | limit wall s | limit events/s | our fifo events/s | ours / limit "
        "| ours / limit, CPU |",
        "|---|---|---|---|---|---|---|",
    ]
    out += [
        f"| {x['case']} | {_n(x['events'])} | {x['wall_s']:.2f} | {_n(x['events_per_s'])} "
        f"| {_n(x['fifo_events_per_s'])} | {_n(x['fifo_over_limit'], 3)} "
        f"| {_n(x['fifo_over_limit_cpu'], 3)} |"
        for x in rows
    ]
    return out


def md_compiled(r: dict[str, Any]) -> list[str]:
    c = r.get("compiled")
    if not c:
        return []
    out = ["", "## The compiled core (`--compiled`: mypyc, built in a temporary copy of src)", ""]
    if "skipped" in c:
        return [*out, f"Not measured: {c['skipped']}."]
    out += [
        f"Built in {c['build_s']:.0f} s. Each run in a fresh process on the compiled copy; "
        "the pure figures are this run's synthetic cases of the same size.",
        "",
        "| case | wall s | events/s | pure events/s | compiled / pure |",
        "|---|---|---|---|---|",
    ]
    out += [
        f"| {x['case']} | {x['wall_s']:.2f} | {_n(x['events_per_s'])} "
        f"| {_n(x['pure_events_per_s'])} | {_n(x['compiled_over_pure'], 3)} |"
        for x in c.get("rows", [])
    ]
    return out
