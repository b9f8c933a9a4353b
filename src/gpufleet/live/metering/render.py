"""A statement as JSON (the canonical document whose SHA-256 is committed), CSV (one row
per pool and a total) and HTML (a printable page, every value escaped). Rounding happens
here only: GPU-hours to 4 decimals (0.36 s), dollars to cents, rates to 1/10,000 $."""

from __future__ import annotations

import csv
import html
import io
from dataclasses import asdict
from typing import Any

from gpufleet.live.metering.statement import Line, Statement

_MONEY = {"agreed_usd", "cost_plus_usd", "market_usd", "stranded_cost_avoided_usd",
          "assessed_fair_usd"}  # fmt: skip
_HOURS = {"gpu_hours", "busy_gpu_hours", "planned_gpu_hours", "assessed_gpu_hours"}
TOTALS = ("gpu_hours", "agreed_usd", "cost_plus_usd", "market_usd",
          "stranded_cost_avoided_usd", "planned_gpu_hours")  # fmt: skip


def _round(name: str, v: Any) -> Any:
    if not isinstance(v, float):
        return v
    if name in _MONEY:
        return round(v, 2)
    if name in _HOURS:
        return round(v, 4)
    return round(v, 4) if name.endswith("per_gpu_hour") else v


def line_dict(x: Line) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else _round(k, v) for k, v in asdict(x).items()}


def to_json(st: Statement) -> dict[str, Any]:
    start, end = st.period.key()
    return {
        "statement": {"giver": st.giver, "taker": st.taker, "from": start, "to": end},
        "lines": [line_dict(x) for x in st.lines],
        "totals": {k: _round(k, st.total(k)) for k in TOTALS},
        "plan_versus_actual": {
            "planned_gpu_hours": _round("planned_gpu_hours", st.total("planned_gpu_hours")),
            "metered_gpu_hours": _round("gpu_hours", st.total("gpu_hours")),
            "assessed_gpu_hours": _round("assessed_gpu_hours", st.total("assessed_gpu_hours")),
            "assessed_fair_usd": _round("assessed_fair_usd", st.total("assessed_fair_usd")),
        },
        "notes": list(st.notes),
    }


def to_csv(st: Statement) -> str:
    out = io.StringIO()
    fields = ["giver", "taker", "from", "to", *line_dict(_EMPTY).keys()]
    w = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    start, end = st.period.key()
    head = {"giver": st.giver, "taker": st.taker, "from": start, "to": end}
    for x in st.lines:
        d = line_dict(x)
        w.writerow(head | {k: ";".join(v) if isinstance(v, list) else _blank(v)
                           for k, v in d.items()})  # fmt: skip
    total = {k: _blank(_round(k, st.total(k))) for k in TOTALS}
    w.writerow(head | {"pool": "TOTAL"} | total)
    return out.getvalue()


def _blank(v: Any) -> Any:
    return "" if v is None else v


_EMPTY = Line("", "", "", 0, 0.0, None, (), None, None, 0.0, 0.0, None, None, 0.0, 0.0, 0.0,
              None, None)  # fmt: skip


def _money(v: Any) -> str:
    return "—" if v is None else f"${v:,.2f}"


def _hours(v: float | None) -> str:
    return "—" if v is None else f"{v:,.4f}"


def _plan_versus_actual(st: Statement) -> str:
    granted, used = st.total("planned_gpu_hours") or 0.0, st.total("gpu_hours") or 0.0
    share = f" ({used / granted:.1%} of granted)" if granted else ""
    assessed = _hours(st.total("assessed_gpu_hours"))
    fair = _money(st.total("assessed_fair_usd"))
    busy = _hours(st.total("busy_gpu_hours"))
    return (
        "<h2>Plan versus actual</h2><p>Granted by the transfers in the period: "
        f"{_hours(granted)} GPU-hours; the assessment priced {assessed} GPU-hours at a fair "
        f"value of {fair}. Used (sacct): {_hours(used)} GPU-hours{share}; busy (DCGM): "
        f"{busy} GPU-hours.</p>"
    )


def to_html(st: Statement, digest: str, version: int) -> str:
    e = html.escape
    start, end = st.period.key()
    rows = "".join(
        f"<tr><td>{e(x.pool)}</td><td>{e(x.site)}</td><td>{e(x.gpu_type)}</td>"
        f"<td>{x.jobs}</td><td>{x.gpu_hours:,.4f}</td><td>{x.planned_gpu_hours:,.2f}</td>"
        f"<td>{e(', '.join(x.transfers)) or '—'}</td><td>{_money(x.agreed_usd)}</td>"
        f"<td>{_money(x.cost_plus_usd)}</td><td>{_money(x.market_usd)}</td>"
        f"<td>{_money(x.stranded_cost_avoided_usd)}</td></tr>"
        for x in st.lines
    )
    notes = "".join(f"<li>{e(n)}</li>" for n in st.notes)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Statement {e(st.giver)} to {e(st.taker)} {e(start)}</title></head><body>"
        f"<h1>Intercompany statement: {e(st.giver)} &rarr; {e(st.taker)}</h1>"
        f"<p>Period {e(start)} to {e(end)} (end excluded). Version {version}, "
        f"SHA-256 <code>{e(digest)}</code>.</p>"
        "<table border='1'><tr><th>pool</th><th>site</th><th>GPU type</th><th>jobs</th>"
        "<th>GPU-hours used</th><th>GPU-hours granted</th><th>transfers</th>"
        "<th>agreed</th><th>cost-plus</th><th>market</th><th>stranded cost avoided</th></tr>"
        f"{rows}<tr><th colspan='4'>total</th><td>{st.total('gpu_hours') or 0:,.4f}</td>"
        f"<td>{st.total('planned_gpu_hours') or 0:,.2f}</td><td></td>"
        f"<td>{_money(st.total('agreed_usd'))}</td><td>{_money(st.total('cost_plus_usd'))}</td>"
        f"<td>{_money(st.total('market_usd'))}</td>"
        f"<td>{_money(st.total('stranded_cost_avoided_usd'))}</td></tr></table>"
        f"{_plan_versus_actual(st)}<ul>{notes}</ul></body></html>\n"
    )
