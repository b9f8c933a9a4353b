"""What a stranded or an idle GPU-day costs its owner, from the plan's cost model
(:class:`gpufleet.domain.scenario.CostModel`, formulas in docs/cost-model.md):

- **flat** (``usd_per_gpu_hour`` set): every owned GPU costs the rate, whatever it does:
  a stranded and an idle GPU-day both cost ``24 x usd_per_gpu_hour``;
- **itemized**: a stranded GPU-day costs the capex and operations of its pool,
  ``(value_usd / GPUs / life_s + ops_usd_per_gpu_hour / 3600) x 86400``, and draws no
  power (as in the simulator's ``stranded cost``); an idle GPU-day adds its idle power,
  ``board W x idle_power_fraction x PUE x $/kWh / 3.6e6 x 86400`` (W x s / 3.6e6 = kWh).

The capex of an entity's GPUs of one type at one site is the GPU-weighted mean over its
pools there (a pool's value over its GPUs); without a pool there, the catalog's price.
Life is counted in Julian years, as the simulator does (:data:`gpufleet.sim.costs.YEAR_S`).
"""

from __future__ import annotations

from dataclasses import dataclass

from gpufleet.domain.scenario import Scenario
from gpufleet.sim.costs import YEAR_S

DAY_S = 86_400


@dataclass(frozen=True)
class GpuDayRates:
    """Dollars per GPU-day of one entity's GPUs of one type at one site."""

    stranded_usd: float
    idle_usd: float


def gpu_day_rates(plan: Scenario, entity: str, site: str, gpu_type: str) -> GpuDayRates:
    cost = plan.cost
    if cost.usd_per_gpu_hour is not None:
        flat = cost.usd_per_gpu_hour * 24
        return GpuDayRates(flat, flat)
    pools = [p for p in plan.pools if (p.owner, p.site, p.gpu_type) == (entity, site, gpu_type)]
    gpus = sum(p.gpu_count for p in pools)
    kind = plan.catalog.get(gpu_type)
    value_per_gpu = sum(p.value_usd for p in pools) / gpus if gpus else kind.price_usd
    stranded_usd_s = value_per_gpu / (cost.life_years * YEAR_S) + cost.ops_usd_per_gpu_hour / 3600
    where = next((s for s in plan.sites if s.name == site), None)
    pue, usd_per_kwh = (where.pue, where.electricity_usd_per_kwh) if where else (1.0, 0.0)
    idle_power_usd_s = kind.board_power_w * cost.idle_power_fraction * pue * usd_per_kwh / 3.6e6
    return GpuDayRates(stranded_usd_s * DAY_S, (stranded_usd_s + idle_power_usd_s) * DAY_S)
