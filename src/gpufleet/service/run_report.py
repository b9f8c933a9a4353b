"""A finished what-if run (or assessment) as one HTML page.

The run stores its comparison as JSON (``Comparison.to_dict()``), not its simulations,
so the page renders what the JSON holds: the text comparison of
:func:`gpufleet.planning.report.whatif.render_comparison` (every program's and entity's figures per
arm, the paired difference with its 95% interval), the charges, and one figure drawn
here: each program's milestone shift (variant - base, days) with its 95% interval, as an
embedded PNG. The full report with time series (``gpufleet whatif --report``) needs the
simulations themselves.
"""

from __future__ import annotations

import base64
import io
from html import escape
from typing import Any

from gpufleet.planning.report.whatif import render_comparison

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 72em; margin: 2em auto; color: #222;
       padding: 0 1em; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: .85em; }
table { border-collapse: collapse; } td, th { padding: .2em .8em; border-bottom: 1px solid #ddd;
       text-align: right; } th:first-child, td:first-child { text-align: left; }
.muted { color: #777; }
"""


def milestone_png(c: dict[str, Any]) -> bytes | None:
    """Milestone shift per program and variant, with 95% intervals; None without any."""
    rows: list[tuple[str, float, float, float]] = []
    for v in c.get("variants", []):
        for prog, m in c["deltas"][v]["programs"].items():
            if prog not in c["arms"][c["base"]]["milestones"]:
                continue
            est = m["milestone_delay_days"]
            mean = est["mean"] or 0.0
            lo = est["ci95_low"] if est["ci95_low"] is not None else mean
            hi = est["ci95_high"] if est["ci95_high"] is not None else mean
            rows.append((f"{prog} ({v})", mean, mean - lo, hi - mean))
    if not rows:
        return None
    # imported here, as the sweep's heat map does: matplotlib takes over half a second to
    # load, and each `gpufleet serve` paid it at start for a page few runs ask for
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    fig = Figure(figsize=(8, 0.6 * len(rows) + 1.4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ys = list(range(len(rows)))
    ax.barh(ys, [r[1] for r in rows], xerr=[[r[2] for r in rows], [r[3] for r in rows]],
            color=["#c0392b" if r[1] > 0 else "#27ae60" for r in rows], capsize=4)  # fmt: skip
    ax.set_yticks(ys, [r[0] for r in rows])
    ax.axvline(0, color="#444", lw=1)
    ax.set_xlabel("milestone shift, days (variant - base; > 0: later)")
    ax.set_title("Milestone shift with 95% interval")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()


def _charges(c: dict[str, Any]) -> str:
    rows = [
        f"<tr><td>{escape(arm)}</td><td>{escape(str(ch['transfer']))}</td>"
        f"<td>{escape(str(ch['payer']))} &rarr; {escape(str(ch['payee']))}</td>"
        f"<td>{ch['gpu_hours']:,.0f}</td><td>{ch['fair_usd']:,.0f}</td>"
        f"<td>{ch['price_usd']:,.0f}</td><td>{'yes' if ch['below_fair_value'] else 'no'}</td></tr>"
        for arm, chs in c.get("charges", {}).items()
        for ch in chs
    ]
    if not rows:
        return ""
    head = (
        "<tr><th>arm</th><th>transfer</th><th>payer &rarr; payee</th><th>GPU-hours</th>"
        "<th>fair ($)</th><th>price ($)</th><th>below fair value</th></tr>"
    )
    return f"<h2>Charges</h2><table>{head}{''.join(rows)}</table>"


def render_run_page(run: dict[str, Any]) -> str:
    """The page of a finished run (``run_dict`` with its result)."""
    result = run.get("result") or {}
    c = result.get("comparison")
    title = f"What-if run {run['id']}: {run['name']}"
    parts = [f"<h1>{escape(title)}</h1>"]
    parts.append(
        f"<p class=muted>{escape(run['kind'])}, requested by {escape(run['created_by'])} "
        f"at {escape(str(run['created_at']))}; finished {escape(str(run['finished_at']))}</p>"
    )
    if c is None:
        parts.append("<p>This run has no comparison.</p>")
    else:
        png = milestone_png(c)
        if png is not None:
            data = base64.b64encode(png).decode()
            parts.append(f'<img alt="milestone shift" src="data:image/png;base64,{data}">')
        parts.append(f"<pre>{escape(render_comparison(c))}</pre>")
        parts.append(_charges(c))
    if result.get("not_recorded"):
        parts.append(f"<p class=muted>{escape(str(result['not_recorded']))}</p>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body>\n</html>\n"
    )
