"""The report's "At a glance": per variant, what a reader asks first. Each milestone's
shift (or that some seed did not reach it), the stranded GPU-days, what the stranded GPUs
cost each entity, and the fair charge for each transfer against its agreed price. Every
figure says over how many seeds it was taken and its 95% interval
(:mod:`gpufleet.planning.report.labels`), so the report's shift and the ``whatif`` text's
read as the same answer."""

from __future__ import annotations

from html import escape

from gpufleet.planning.report.labels import not_reached, over_seeds
from gpufleet.planning.whatif.shapes import ComparisonJson
from gpufleet.planning.whatif.stats import EstimateJson


def glance(d: ComparisonJson) -> str:
    items = [item for v in d["variants"] for item in _variant_items(d, v)]
    return f"<h2>At a glance</h2><ul>{''.join(items)}</ul>" if items else ""


def _variant_items(d: ComparisonJson, v: str) -> list[str]:
    base = d["base"]
    arms = {base: d["arms"][base], v: d["arms"][v]}
    delta = d["deltas"][v]
    items = []
    for prog, m in delta["programs"].items():
        if prog not in arms[base]["milestones"]:
            continue
        missed = not_reached(arms, prog)
        if missed:
            items.append(f"<li>{escape(v)}: <b>{escape(prog)}</b> milestone {escape(missed)}</li>")
            continue
        est = m["milestone_delay_days"]
        word = "later than in" if est["mean"] > 0 else "earlier than in"
        text = f"{abs(est['mean']):,.1f} days {word}" if est["mean"] else "no change from"
        items.append(
            f"<li>{escape(v)}: <b>{escape(prog)}</b> milestone {text} "
            f"{escape(base)} ({escape(over_seeds(est))}){_noise(est)}</li>"
        )
    stranded = delta["fleet"].get("stranded_gpu_days")
    if stranded is not None:
        change = f"{stranded['mean']:+,.0f}" if stranded["mean"] else "no change"
        items.append(
            f"<li>{escape(v)}: stranded GPU-days {change} "
            f"({escape(over_seeds(stranded, 0))}){_noise(stranded)}</li>"
        )
    items += _stranded_cost(d, v)
    items += [
        f"<li>{escape(v)}: fair charge ({escape(ch['rule'])}) for {escape(ch['transfer'])}: "
        f"<b>{_usd(ch['fair_usd'])}</b> owed by {escape(ch['payer'])} to "
        f"{escape(ch['payee'])}; agreed price {_usd(ch['price_usd'])}"
        + (" <span class=flag>BELOW FAIR VALUE</span>" if ch["below_fair_value"] else "")
        + "</li>"
        for ch in d["charges"][v]
    ]
    return items


def _stranded_cost(d: ComparisonJson, v: str) -> list[str]:
    """One line per entity whose GPUs stood stranded in either arm: the cost in each and
    the paired difference."""
    base = d["base"]
    out = []
    for ent, est in d["deltas"][v]["entities"].items():
        b = d["arms"][base]["entities"][ent].get("stranded_cost_usd")
        a = d["arms"][v]["entities"][ent].get("stranded_cost_usd")
        diff = est.get("stranded_cost_usd")
        if b is None or a is None or diff is None or (b["mean"] == 0 and a["mean"] == 0):
            continue
        out.append(
            f"<li>{escape(v)}: <b>{escape(ent)}</b>'s stranded GPUs cost "
            f"<b>{_usd(b['mean'])}</b> in {escape(base)} and <b>{_usd(a['mean'])}</b> in "
            f"{escape(v)} (difference {_usd(diff['mean'], signed=True)}; "
            f"{escape(over_seeds(diff, 0))})</li>"
        )
    return out


def _usd(x: float, signed: bool = False) -> str:
    sign = "-" if x < 0 else "+" if signed and x > 0 else ""
    return f"{sign}${abs(x):,.0f}"


def _noise(est: EstimateJson) -> str:
    if est["n"] > 1 and est["within_noise"] and est["mean"] != 0:
        return " <span class=noise>≈ within noise</span>"
    return ""
