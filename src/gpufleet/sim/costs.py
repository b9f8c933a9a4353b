"""Cost rates in $ per second, from the itemized cost model (docs/cost-model.md).

- capex of a node = its pool's value / node count / life (s);
- idle power of a powered node = GPUs x board W x idle fraction x site PUE x $/kWh / 3.6e6;
- busy power, on top, per busy GPU = board W x (1 - idle fraction) x PUE x $/kWh / 3.6e6;
- a stranded node (delivered, not powered) keeps its capex and draws no power.

(W x s / 3.6e6 = kWh.) The owner of the hardware bears its costs, whoever runs on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gpufleet.state.cluster import ClusterState

YEAR_S = 365.25 * 86_400


@dataclass
class CostRates:
    life_years: float = 4.0
    idle_fraction: float = 0.3
    board_w: dict[str, float] = field(default_factory=dict)  # GPU type -> board power
    site_pue: dict[str, float] = field(default_factory=dict)
    site_usd_per_kwh: dict[str, float] = field(default_factory=dict)
    itemized: bool = True  # False under a flat rate: power lines are not tracked

    def _energy_usd_per_ws(self, site: str) -> float:
        return self.site_pue.get(site, 1.0) * self.site_usd_per_kwh.get(site, 0.0) / 3.6e6

    def busy_usd_s(self, site: str, gpu_type: str) -> float:
        return (
            self.board_w.get(gpu_type, 0.0)
            * (1 - self.idle_fraction)
            * self._energy_usd_per_ws(site)
        )

    def owner_rates(self, state: ClusterState) -> tuple[list[float], list[float], list[float]]:
        """(capex, stranded capex, idle power) in $/s per entity, for the nodes delivered."""
        n_ent = len(state.entities)
        capex, stranded, idle = [0.0] * n_ent, [0.0] * n_ent, [0.0] * n_ent
        life_s = self.life_years * YEAR_S
        cap = state.capacity
        for n, delivered in enumerate(state.node_delivered):
            if not delivered:
                continue
            o = state.node_owner[n]
            c = state.node_value_usd[n] / life_s
            capex[o] += c
            if state.node_powered[n]:
                site = state.node_site[n]
                idle[o] += (
                    cap.node_gpus[n]
                    * self.board_w.get(state.node_type[n], 0.0)
                    * self.idle_fraction
                    * self._energy_usd_per_ws(site)
                )
            else:
                stranded[o] += c
        return capex, stranded, idle
