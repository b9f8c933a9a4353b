"""The what-if comparison as text: per variant, each program's and entity's figures for
the base and the variant, the paired difference with its 95% interval, and a mark when
the difference is within noise. A milestone some seed did not reach shows as "not reached
in N of M seeds", never as a shift (:mod:`gpufleet.planning.report.labels`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpufleet.planning.report.labels import arm_milestone, not_reached, seeds
from gpufleet.planning.report.table import render
from gpufleet.planning.whatif.stats import EstimateJson

_PROGRAM_ROWS = (
    ("milestone_delay_days", "milestone vs due (days)", 1),
    ("queueing_delay_mean_s", "mean queueing delay (h)", 1),
    ("queueing_delay_p95_s", "p95 queueing delay (h)", 1),
    ("jct_mean_s", "mean JCT (h)", 1),
    ("gpu_hours_received", "GPU-hours received", 0),
    ("received_over_entitled", "received / entitled", 3),
)
_ENTITY_ROWS = (
    ("gpu_hours_used", "GPU-hours used", 0),
    ("gpu_hours_lent", "GPU-hours lent", 0),
    ("gpu_hours_borrowed", "GPU-hours borrowed", 0),
    ("stranded_gpu_days", "stranded GPU-days", 0),
    ("stranded_cost_usd", "cost of stranded GPUs ($)", 0),
    ("cost_usd", "cost ($)", 0),
)
_FLEET_ROWS = (
    ("utilisation", "utilisation", 4),
    ("fairness_jain", "fairness (Jain)", 4),
    ("stranded_gpu_days", "stranded GPU-days", 0),
)
_HOURS = {"queueing_delay_mean_s", "queueing_delay_p95_s", "jct_mean_s"}


def _fmt(x: float | None, nd: int, key: str) -> str:
    if x is None:
        return "-"
    if key in _HOURS:
        x = x / 3600
    return f"{x:,.{nd}f}"


def _delta(d: EstimateJson, nd: int, key: str) -> str:
    mean = _fmt(d["mean"], nd, key)
    if d["mean"] == 0 and d["ci95_low"] == 0 and d["ci95_high"] == 0:
        return "0 (no change)"
    if d["ci95_low"] is None:
        return f"{mean} (1 seed)"
    lo, hi = _fmt(d["ci95_low"], nd, key), _fmt(d["ci95_high"], nd, key)
    mark = "  ~ within noise" if d["within_noise"] else ""
    return f"{mean} [{lo}, {hi}]{mark}"


def _milestone_row(
    label: str, arms: Mapping[str, Mapping[str, Any]], d: EstimateJson, prog: str
) -> list[str]:
    """The milestone's row: a shift with its seeds and interval, or, where some seed did
    not reach it, "not reached in N of M seeds" (a censored shift is no answer)."""
    key = "milestone_delay_days"
    cells = [
        arm_milestone(arm, prog) or _fmt(arm["programs"][prog][key]["mean"], 1, key)
        for arm in arms.values()
    ]
    return [
        f"  {label}",
        *cells,
        not_reached(arms, prog) or f"{_delta(d, 1, key)} ({seeds(d['n'])})",
    ]


def render_comparison(c: Mapping[str, Any]) -> str:
    """The comparison's JSON as text tables: ``Comparison.to_dict()`` or a stored run's
    ``comparison`` as read back from the store."""
    base = c["base"]
    blocks = [
        f"What-if: base '{base}' against {', '.join(c['variants'])}; "
        f"{len(c['seeds'])} seeds; differences are variant - base, paired by seed, "
        "with 95% intervals"
    ]
    for v in c["variants"]:
        b, a, d = c["arms"][base], c["arms"][v], c["deltas"][v]
        rows: list[list[str]] = []
        for prog in b["programs"]:
            rows.append([prog, "", "", ""])
            for key, label, nd in _PROGRAM_ROWS:
                if key == "milestone_delay_days":
                    if prog in b["milestones"]:  # else no date to be early or late against
                        arms = {base: b, v: a}
                        rows.append(_milestone_row(label, arms, d["programs"][prog][key], prog))
                    continue
                rows.append(
                    [
                        f"  {label}",
                        _fmt(b["programs"][prog][key]["mean"], nd, key),
                        _fmt(a["programs"][prog][key]["mean"], nd, key),
                        _delta(d["programs"][prog][key], nd, key),
                    ]
                )
        for ent in b["entities"]:
            rows.append([ent, "", "", ""])
            for key, label, nd in _ENTITY_ROWS:
                rows.append(
                    [
                        f"  {label}",
                        _fmt(b["entities"][ent][key]["mean"], nd, key),
                        _fmt(a["entities"][ent][key]["mean"], nd, key),
                        _delta(d["entities"][ent][key], nd, key),
                    ]
                )
        rows.append(["fleet", "", "", ""])
        for key, label, nd in _FLEET_ROWS:
            rows.append(
                [
                    f"  {label}",
                    _fmt(b["fleet"][key]["mean"], nd, key),
                    _fmt(a["fleet"][key]["mean"], nd, key),
                    _delta(d["fleet"][key], nd, key),
                ]
            )
        blocks.append(
            render(["", base, v, "difference [95% interval]"], rows, f"\n{v}: {a['scenario']}")
        )
        charges = c["charges"][v]
        if charges:
            crow = [
                [
                    ch["transfer"],
                    f"{ch['payer']} -> {ch['payee']}",
                    f"{ch['gpu_hours']:,.0f}",
                    f"{ch['fair_usd']:,}",
                    f"{ch['price_usd']:,}",
                    "BELOW FAIR VALUE" if ch["below_fair_value"] else "",
                ]
                for ch in charges
            ]
            blocks.append(
                render(
                    [
                        "transfer",
                        "owes",
                        "GPU-hours",
                        "fair charge ($)",
                        "agreed price ($)",
                        "flag",
                    ],
                    crow,
                    f"Intercompany charges ({charges[0]['rule']})",
                )
            )
    return "\n".join(blocks)
