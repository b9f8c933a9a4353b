"""What one company owes another for GPUs transferred to it.

For a transfer of g GPUs from A to B over [start, end) (end = the horizon for a permanent
one), clipped to the scenario, B holds ``g x hours`` GPU-hours of A's hardware. Two rules:

- **cost-plus** (default): ``GPU-hours x the scenario's all-in $/GPU-hour x (1 + markup)``:
  A recovers what owning the GPUs costs over that time, plus a margin;
- **market**: ``GPU-hours x a market rate`` you give ($/GPU-hour, e.g. a cloud price).

The fair charge is compared with the transfer's agreed ``price_usd``: a price below it is
flagged (a related-party transfer at less than fair value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from gpufleet.domain.changes import Transfer
from gpufleet.domain.scenario import Scenario


class ChargeJson(TypedDict):
    transfer: str
    payer: str
    payee: str
    gpu_hours: float  # one decimal
    fair_usd: int  # whole dollars
    price_usd: int
    rule: str
    below_fair_value: bool


@dataclass(frozen=True)
class Charge:
    transfer: str
    payer: str
    payee: str
    gpu_hours: float
    fair_usd: float
    price_usd: float
    rule: str

    @property
    def below_fair_value(self) -> bool:
        return self.price_usd + 0.5 < self.fair_usd

    def as_dict(self) -> ChargeJson:
        return {
            "transfer": self.transfer,
            "payer": self.payer,
            "payee": self.payee,
            "gpu_hours": round(self.gpu_hours, 1),
            "fair_usd": round(self.fair_usd),
            "price_usd": round(self.price_usd),
            "rule": self.rule,
            "below_fair_value": self.below_fair_value,
        }


def cost_rate(sc: Scenario, t: Transfer) -> float:
    """What one GPU-hour of the transferred GPUs costs their owner: the flat rate, or
    (itemized) the pool's capex per GPU-hour + operations + full board power at the site
    it runs at, times PUE and $/kWh."""
    cost = sc.cost
    if cost.usd_per_gpu_hour is not None:
        return cost.usd_per_gpu_hour
    pool = next(p for p in sc.pools if p.name == t.pool)
    site = next(s for s in sc.sites if s.name == (t.to_site or pool.site))
    capex = pool.value_usd / pool.gpu_count / (cost.life_years * 365.25 * 24)
    power = (
        sc.catalog.get(pool.gpu_type).board_power_w
        / 1000
        * site.pue
        * (site.electricity_usd_per_kwh)
    )
    return capex + cost.ops_usd_per_gpu_hour + power


def charges(
    sc: Scenario, market_usd_per_gpu_hour: float | None = None, markup: float = 0.0
) -> list[Charge]:
    out = []
    for t in sc.transfers:
        start = max(t.start, sc.start)
        end = min(t.end or sc.end, sc.end)
        hours = max(0.0, (end - start).total_seconds() / 3600) * t.gpus
        if market_usd_per_gpu_hour is not None:
            rate, rule = market_usd_per_gpu_hour, f"market ${market_usd_per_gpu_hour:.2f}/GPU-h"
        else:
            base = cost_rate(sc, t)
            rate = base * (1 + markup)
            rule = f"cost-plus ${base:.2f}/GPU-h x {1 + markup:.2f}"
        out.append(
            Charge(t.name, t.to_entity, t.from_entity, hours, hours * rate, t.price_usd, rule)
        )
    return out
