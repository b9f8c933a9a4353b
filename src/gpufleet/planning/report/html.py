"""The what-if report: one self-contained HTML file, the figures as PNG files, the numbers
as JSON.

``write_report(comparison, folder)`` writes into ``folder`` (created if missing; its parent
must exist):

- ``report.html``: what was compared (arms, seeds, period), the figures of
  :mod:`gpufleet.planning.report.plots` embedded as base64 ``data:`` URIs, the tables of paired
  differences (variant - base, 95% Student-t interval, marked *within noise* when the
  interval holds 0), milestone dates, intercompany charges (marked when the agreed price
  is below the fair charge), and the scenario's assumptions and sources. No external CSS,
  script, font or image: the one file can be mailed or archived as it is;
- ``utilisation.png``, ``milestones.png``, ``queueing.png``, ``stranded.png``;
- ``whatif.json``: ``comparison.to_dict()``, the figures every table is drawn from.

The HTML holds no timestamp: the same comparison gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from html import escape
from pathlib import Path
from typing import Any

from gpufleet.errors import InputError
from gpufleet.planning.report.glance import glance
from gpufleet.planning.report.labels import arm_milestone, not_reached
from gpufleet.planning.report.plots import ComparisonLike, Plot, render_plots
from gpufleet.planning.whatif.shapes import ArmJson, ComparisonJson
from gpufleet.planning.whatif.stats import EstimateJson
from gpufleet.sim.result import SimResult

# (metric key in Comparison.to_dict(), label with its unit, scale to that unit, decimals)
Row = tuple[str, str, float, int]
_PROGRAM_ROWS: tuple[Row, ...] = (
    ("milestone_delay_days", "milestone vs due date (days, + = late)", 1.0, 1),
    ("queueing_delay_mean_s", "mean queueing delay (h)", 1 / 3600, 1),
    ("queueing_delay_p95_s", "p95 queueing delay (h)", 1 / 3600, 1),
    ("jct_mean_s", "mean job completion time (h)", 1 / 3600, 1),
    ("jct_p95_s", "p95 job completion time (h)", 1 / 3600, 1),
    ("gpu_hours_received", "GPU-hours received", 1.0, 0),
    ("gpu_hours_entitled", "GPU-hours entitled (quota)", 1.0, 0),
    ("received_over_entitled", "received / entitled", 1.0, 3),
    ("work_done_gpu_hours", "work done (H100 GPU-hours)", 1.0, 0),
)
_ENTITY_ROWS: tuple[Row, ...] = (
    ("gpu_hours_used", "GPU-hours used", 1.0, 0),
    ("gpu_hours_lent", "GPU-hours lent", 1.0, 0),
    ("gpu_hours_borrowed", "GPU-hours borrowed", 1.0, 0),
    ("stranded_gpu_days", "stranded GPU-days", 1.0, 0),
    ("stranded_cost_usd", "cost of stranded GPUs ($)", 1.0, 0),
    ("cost_usd", "cost of owned GPUs ($)", 1.0, 0),
)
_FLEET_ROWS: tuple[Row, ...] = (
    ("utilisation", "utilisation of ready GPUs (%)", 100.0, 1),
    ("fairness_jain", "fairness (Jain's index, received / entitled)", 1.0, 3),
    ("stranded_gpu_days", "stranded GPU-days", 1.0, 0),
    ("idle_ready_gpu_hours", "idle-but-ready GPU-hours", 1.0, 0),
)

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #1a1a1a; max-width: 1100px; margin: 2em auto; padding: 0 1.2em; }
h1 { font-size: 1.7em; margin-bottom: .2em; }
h2 { font-size: 1.3em; margin-top: 2.2em; border-bottom: 2px solid #ddd; padding-bottom: .2em; }
h3 { font-size: 1.08em; margin: 1.6em 0 .4em; }
p.lead { color: #444; margin-top: 0; }
ul.compact { margin: .3em 0; padding-left: 1.3em; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .25em 1.2em; }
dl.meta dt { font-weight: 600; color: #555; }
dl.meta dd { margin: 0; }
figure { margin: 1.4em 0 2em; }
figure img { width: 100%; height: auto; border: 1px solid #e3e3e3; }
figcaption { color: #555; font-size: .92em; margin-top: .3em; }
table { border-collapse: collapse; width: 100%; margin: .4em 0 1em; font-size: .93em; }
table.deltas { table-layout: fixed; }
table.deltas col.label { width: 30%; }
table.deltas col.num { width: 12%; }
table.deltas col.ci { width: 22%; }
table.deltas col.note { width: 12%; }
table.ms td { white-space: nowrap; }
table.ms td.name { white-space: normal; }
caption { text-align: left; color: #555; padding: .2em 0 .4em; }
th, td { padding: .28em .6em; border-bottom: 1px solid #e6e6e6; vertical-align: top; }
th { background: #f3f3f3; text-align: left; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.group td { background: #fafafa; font-weight: 600; padding-top: .6em; }
td.label { padding-left: 1.4em; }
td.sig { font-weight: 700; }
.noise { color: #777; }
.flag { color: #fff; background: #c0392b; border-radius: 3px; padding: 0 .4em;
        font-size: .85em; white-space: nowrap; }
.muted { color: #777; }
footer { margin-top: 3em; color: #666; font-size: .88em; border-top: 1px solid #ddd;
         padding-top: .6em; }
"""


def write_report(comparison: ComparisonLike, folder: Path | str) -> Path:
    """Write the report into ``folder`` and return the path of ``report.html``."""
    out = _prepare(Path(folder))
    d = comparison.to_dict()
    plots = render_plots(comparison)
    for p in plots:
        (out / f"{p.name}.png").write_bytes(p.png)
    (out / "whatif.json").write_text(json.dumps(d, indent=2, sort_keys=True) + "\n")
    page = out / "report.html"
    page.write_text(render_html(comparison, d, plots), encoding="utf-8")
    return page


def check_folder(folder: Path, label: str = "report folder") -> None:
    """Raise :class:`InputError` unless ``folder`` is a folder or can be made one (its parent
    exists). The CLI calls this before a run, so a typo costs no waiting."""
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{label} {folder}: is a file; give a folder")
    if not folder.parent.is_dir():
        raise InputError(
            f"{label} {folder}: no such directory {str(folder.parent)!r}; create it first"
        )


def _prepare(folder: Path) -> Path:
    check_folder(folder)
    folder.mkdir(exist_ok=True)
    return folder


def render_html(c: ComparisonLike, d: ComparisonJson, plots: Sequence[Plot]) -> str:
    """The page: header, figures, difference tables, milestones, charges, assumptions."""
    title = f"What-if: {d['base']} against {', '.join(d['variants']) or 'nothing'}"
    body = [
        _header(c, d),
        glance(d),
        "<h2>Figures</h2>",
        *(_figure(p) for p in plots),
        *(_variant_tables(d, v) for v in d["variants"]),
        _milestones(c, d),
        _charges(d),
        _assumptions(c),
        _footer(plots),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(b for b in body if b)
        + "\n</body>\n</html>\n"
    )


# --- header -------------------------------------------------------------------------------
def _header(c: ComparisonLike, d: ComparisonJson) -> str:
    base_sc = c.arms[d["base"]]
    first = c.results[d["base"]][0]
    days = first.horizon_s / 86400
    end = first.start + timedelta(seconds=first.horizon_s)
    arms = "".join(
        f"<li><b>{escape(a)}</b>{' (base)' if a == d['base'] else ''}: "
        f"{escape(_arm_description(c, a))} <span class=muted>(scenario "
        f"{escape(c.arms[a].name)}, policy {escape(c.results[a][0].policy)})</span></li>"
        for a in [d["base"], *d["variants"]]
    )
    seeds = ", ".join(str(s) for s in d["seeds"])
    desc = f'<p class="lead">{escape(base_sc.description)}</p>' if base_sc.description else ""
    return (
        f"<h1>What-if: {escape(d['base'])} against {escape(', '.join(d['variants']) or '-')}"
        f"</h1>\n{desc}\n<dl class=meta>"
        f"<dt>Compared</dt><dd><ul class=compact>{arms}</ul></dd>"
        f"<dt>Seeds</dt><dd>{len(d['seeds'])} per arm ({escape(seeds)}); seed <i>i</i> drives "
        "the same workload draws in every arm, so differences are paired by seed</dd>"
        f"<dt>Period</dt><dd>{first.start:%Y-%m-%d} to {end:%Y-%m-%d} ({days:,.0f} days)</dd>"
        "<dt>Differences</dt><dd>variant - base, mean over seeds with a 95% Student-t "
        "interval; <span class=noise>≈ within noise</span> when the interval holds 0</dd>"
        "</dl>"
    )


def _arm_description(c: ComparisonLike, arm: str) -> str:
    for v in c.arms[arm].variants:
        if v.name == arm and v.description:
            return v.description
    return "the base scenario" if arm == c.base else "the base with changes applied"


# --- figures ------------------------------------------------------------------------------
def _figure(p: Plot) -> str:
    return p.html(f" (also {p.name}.png)")


# --- difference tables --------------------------------------------------------------------
def _variant_tables(d: ComparisonJson, v: str) -> str:
    base, b, a, delta = d["base"], d["arms"][d["base"]], d["arms"][v], d["deltas"][v]
    head = (
        '<colgroup><col class="label"><col class="num"><col class="num"><col class="num">'
        '<col class="ci"><col class="note"></colgroup>'
        f"<tr><th></th><th class=n>{escape(base)}</th><th class=n>{escape(v)}</th>"
        "<th class=n>difference</th><th class=n>95% interval</th><th></th></tr>"
    )
    progs = "".join(
        _group(
            prog,
            _PROGRAM_ROWS,
            b["programs"][prog],
            a["programs"][prog],
            dp,
            _censored({base: b, v: a}, prog),
        )
        for prog, dp in delta["programs"].items()
    )
    ents = "".join(
        _group(ent, _ENTITY_ROWS, b["entities"][ent], a["entities"][ent], de)
        for ent, de in delta["entities"].items()
    )
    fleet = _group("fleet", _FLEET_ROWS, b["fleet"], a["fleet"], delta["fleet"])
    return (
        f"<h2>{escape(v)} against {escape(base)}</h2>"
        f'<p class="lead">{escape(a["scenario"])} against {escape(b["scenario"])}; '
        "means over seeds.</p>"
        f'<table class="deltas"><caption>Programs</caption>{head}{progs}</table>'
        f'<table class="deltas"><caption>Entities</caption>{head}{ents}</table>'
        f'<table class="deltas"><caption>Fleet</caption>{head}{fleet}</table>'
    )


def _group(
    name: str,
    rows: Sequence[Row],
    b: Mapping[str, EstimateJson],
    a: Mapping[str, EstimateJson],
    delta: Mapping[str, EstimateJson],
    censored: tuple[str, str, str] | None = None,
) -> str:
    """A group's rows; ``censored`` (base cell, variant cell, note) replaces the milestone
    row's figures where some seed did not reach it."""
    out = [f'<tr class="group"><td colspan="6">{escape(name)}</td></tr>']
    for key, label, scale, nd in rows:
        if key not in delta:
            continue
        if key == "milestone_delay_days" and censored:
            cb, ca, note = (escape(x) for x in censored)
            out.append(
                f"<tr><td class=label>{escape(label)}</td><td class=n>{cb}</td>"
                f'<td class=n>{ca}</td><td colspan="3" class="muted">{note}</td></tr>'
            )
            continue
        est = delta[key]
        sig = not est["within_noise"] and not _no_change(est)
        out.append(
            f"<tr><td class=label>{escape(label)}</td>"
            f"<td class=n>{_num(b[key]['mean'], scale, nd)}</td>"
            f"<td class=n>{_num(a[key]['mean'], scale, nd)}</td>"
            f'<td class="n{" sig" if sig else ""}">{_signed(est["mean"], scale, nd)}</td>'
            f"<td class=n>{_interval(est, scale, nd)}</td><td>{_noise(est)}</td></tr>"
        )
    return "".join(out)


def _censored(arms: Mapping[str, ArmJson], prog: str) -> tuple[str, str, str] | None:
    """The milestone row's cells where some seed did not reach it: a shift counted at the
    horizon would be an artefact of the horizon, not a figure."""
    note = not_reached(arms, prog)
    if note is None:
        return None
    key = "milestone_delay_days"
    b, a = (
        arm_milestone(arm, prog) or _num(arm["programs"][prog][key]["mean"], 1.0, 1)
        for arm in arms.values()
    )
    return b, a, note


def _no_change(est: EstimateJson) -> bool:
    return bool(est["mean"] == 0 and est["ci95_low"] == 0 and est["ci95_high"] == 0)


def _noise(est: EstimateJson) -> str:
    if _no_change(est):
        return " <span class=noise>no change</span>"
    if est["ci95_low"] is None:
        return " <span class=noise>one seed: no interval</span>"
    return " <span class=noise>≈ within noise</span>" if est["within_noise"] else ""


def _interval(est: EstimateJson, scale: float, nd: int) -> str:
    lo, hi = est["ci95_low"], est["ci95_high"]
    if lo is None or hi is None or _no_change(est):
        return ""
    if lo == hi:
        return "same in every seed"
    return f"[{_signed(lo, scale, nd)}, {_signed(hi, scale, nd)}]"


def _ci_note(est: EstimateJson, scale: float, nd: int) -> str:
    ci = _interval(est, scale, nd)
    if not ci.startswith("["):
        return f" ({ci})" if ci else ""
    return f" (95% interval {ci})"


def _num(x: float | None, scale: float, nd: int) -> str:
    return "-" if x is None else f"{x * scale:,.{nd}f}"


def _signed(x: float | None, scale: float, nd: int) -> str:
    if x is None:
        return "-"
    text = f"{x * scale:+,.{nd}f}"
    return "0" if text.lstrip("+-").strip("0.,") == "" else text


# --- milestones and charges ---------------------------------------------------------------
def _milestones(c: ComparisonLike, d: ComparisonJson) -> str:
    arms = [d["base"], *d["variants"]]
    first = c.results[d["base"]][0].metrics.programs
    progs = [p for p, m in first.items() if m.milestone is not None]
    if not progs:
        return ""
    head = "<tr><th>program</th><th>milestone</th><th class=n>GPU-hours</th><th>due</th>"
    head += "".join(f"<th>reached in {escape(a)}</th>" for a in arms)
    rows = []
    for prog in progs:
        ms = first[prog].milestone
        assert ms is not None
        cells = "".join(f"<td>{_reached(c.results[a], prog)}</td>" for a in arms)
        rows.append(
            f"<tr><td>{escape(prog)}</td><td class=name>{escape(ms.name)}</td>"
            f"<td class=n>{ms.gpu_hours:,.0f}</td><td>{ms.due:%Y-%m-%d}</td>{cells}</tr>"
        )
    return (
        "<h2>Milestones</h2><table class=ms><caption>Date each milestone's work was done: "
        "the mean over the seeds that reached it (earliest to latest)</caption>"
        f"{head}</tr>{''.join(rows)}</table>"
    )


def _reached(runs: Sequence[SimResult], prog: str) -> str:
    outcomes = [r.metrics.programs[prog].milestone for r in runs]
    if outcomes[0] is None:
        return "-"
    dates = sorted(m.reached for m in outcomes if m is not None and m.reached is not None)
    not_reached = len(outcomes) - len(dates)
    missed = f" <span class=flag>not reached in {not_reached}</span>"
    if not dates:
        return "<span class=flag>not reached</span>"
    # dates are naive: average their offsets, never .timestamp() (local time, DST)
    mean = dates[0] + sum((x - dates[0] for x in dates), timedelta()) / len(dates)
    first, last = f"{dates[0]:%Y-%m-%d}", f"{dates[-1]:%Y-%m-%d}"
    spread = f" <span class=muted>({first} to {last})</span>" if first != last else ""
    return f"{mean:%Y-%m-%d}" + spread + (missed if not_reached else "")


def _charges(d: ComparisonJson) -> str:
    blocks = []
    for arm in [d["base"], *d["variants"]]:
        rows = d["charges"].get(arm) or []
        if not rows:
            continue
        body = "".join(
            f"<tr><td>{escape(ch['transfer'])}</td><td>{escape(ch['payer'])} owes "
            f"{escape(ch['payee'])}</td><td class=n>{ch['gpu_hours']:,.0f}</td>"
            f"<td class=n>{ch['fair_usd']:,.0f}</td><td class=n>{ch['price_usd']:,.0f}</td>"
            f"<td>{'<span class=flag>below fair value</span>' if ch['below_fair_value'] else ''}"
            "</td></tr>"
            for ch in rows
        )
        blocks.append(
            f"<table><caption><b>{escape(arm)}</b>: {escape(rows[0]['rule'])}</caption>"
            "<tr><th>transfer</th><th>who owes whom</th><th class=n>GPU-hours</th>"
            "<th class=n>fair charge ($)</th><th class=n>agreed price ($)</th><th></th></tr>"
            f"{body}</table>"
        )
    if not blocks:
        return ""
    return (
        "<h2>Intercompany charges</h2><p>What the receiving company owes the owner for the "
        "GPUs transferred to it, against the agreed price; a price below the fair charge is a "
        "related-party transfer at less than fair value.</p>" + "".join(blocks)
    )


# --- assumptions, sources, footer ---------------------------------------------------------
def _assumptions(c: ComparisonLike) -> str:
    assumptions = _union(sc.assumptions for sc in c.arms.values())
    sources = _union(sc.sources for sc in c.arms.values())
    out = ["<h2>Assumptions and sources</h2>"]
    out.append(
        "<h3>Assumptions</h3><ul>" + "".join(f"<li>{escape(a)}</li>" for a in assumptions) + "</ul>"
        if assumptions
        else "<p class=muted>The scenario lists no assumptions.</p>"
    )
    out.append(
        "<h3>Sources</h3><ul>" + "".join(f"<li>{escape(s)}</li>" for s in sources) + "</ul>"
        if sources
        else "<p class=muted>The scenario lists no sources.</p>"
    )
    files = sorted({sc.source_file for sc in c.arms.values() if sc.source_file})
    if files:
        out.append(f"<p class=muted>Scenario file: {escape(', '.join(files))}</p>")
    return "".join(out)


def _union(groups: Any) -> list[str]:
    seen: dict[str, None] = {}
    for g in groups:
        for x in g:
            seen.setdefault(x, None)
    return list(seen)


def _footer(plots: Sequence[Plot]) -> str:
    names = ", ".join(f"{p.name}.png" for p in plots)
    return (
        "<footer>Written by gpufleet. Next to this file: whatif.json (every figure in these "
        f"tables) and {escape(names)}. Formulas: see the gpufleet README, "
        "“Measures and their formulas”.</footer>"
    )
