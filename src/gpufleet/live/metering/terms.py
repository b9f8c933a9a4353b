"""The register's side of a statement: each pool's owner, site, type and costs, and the
transfers of the plan (approved, active, ended) with their agreed price and what their
assessment used and found (the run's request: markup, market rate; its result: the
charge's GPU-hours and fair value)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gpufleet.domain import ProgramId
from gpufleet.domain.changes import Transfer
from gpufleet.domain.scenario import Scenario
from gpufleet.governance.register.plan import IN_PLAN, plan_scenario
from gpufleet.governance.store.models import Run, TransferRow
from gpufleet.live.costs import gpu_day_rates
from gpufleet.live.metering.statement import PoolFacts, TransferTerms
from gpufleet.planning.whatif.charges import cost_rate


def pool_facts(plan: Scenario) -> tuple[PoolFacts, ...]:
    out = []
    for p in plan.pools:
        rates = gpu_day_rates(plan, p.owner, p.site, p.gpu_type)
        # the pool's own all-in rate: cost_rate of a transfer of it that stays at its site
        here = Transfer("", p.name, 0, p.owner, p.owner, ProgramId(""), ProgramId(""), plan.start)
        rate = cost_rate(plan, here)
        out.append(PoolFacts(p.name, p.owner, p.site, p.gpu_type, rates.stranded_usd / 24, rate))
    return tuple(out)


def _assessment(s: Session, row: TransferRow) -> tuple[dict[str, Any], dict[str, Any]]:
    run = s.get(Run, row.assessment_run_id) if row.assessment_run_id else None
    if run is None:
        return {}, {}
    charge = (run.result or {}).get("charge")
    return dict(run.request or {}), charge if isinstance(charge, dict) else {}


def transfer_terms(s: Session, plan: Scenario | None = None) -> tuple[TransferTerms, ...]:
    plan = plan or plan_scenario(s)
    resolved = {t.name: t for t in plan.transfers}
    rows = s.scalars(
        select(TransferRow)
        .where(TransferRow.state.in_([st.value for st in IN_PLAN]))
        .order_by(TransferRow.id)
    )
    out = []
    for row in rows:
        t = resolved.get(row.name)
        if t is None:
            continue
        request, charge = _assessment(s, row)
        gpu_hours = charge.get("gpu_hours")
        fair = charge.get("fair_usd")
        market = request.get("market_rate")
        terms = TransferTerms(
            row.id, row.name, row.state, t.pool, t.gpus, t.from_entity, t.to_entity,
            t.start, t.end, t.price_usd, cost_rate(plan, t),
            float(request.get("markup") or 0.0),
            float(market) if market is not None else None,
            float(gpu_hours) if gpu_hours is not None else None,
            float(fair) if fair is not None else None,
        )  # fmt: skip
        out.append(terms)
    return tuple(out)
