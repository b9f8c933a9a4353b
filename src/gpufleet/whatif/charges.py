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

from gpufleet.domain.scenario import Scenario


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

    def as_dict(self) -> dict[str, object]:
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
            rate = sc.cost.usd_per_gpu_hour * (1 + markup)
            rule = f"cost-plus ${sc.cost.usd_per_gpu_hour:.2f}/GPU-h x {1 + markup:.2f}"
        out.append(
            Charge(t.name, t.to_entity, t.from_entity, hours, hours * rate, t.price_usd, rule)
        )
    return out
