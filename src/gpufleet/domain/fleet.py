"""Physical fleet: datacenter sites, the blocks of facility capacity that make them ready,
and the node pools delivered to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from gpufleet.domain.ids import EntityId, GpuTypeName, PoolId, SiteId


@dataclass(frozen=True)
class ReadyBlock:
    """A block of facility capacity (power with its cooling and network) that becomes usable
    on ``date``. A site's ready power at time t is the sum of its blocks dated on or before t,
    capped by the site's budget."""

    date: datetime
    power_kw: float
    note: str = ""


@dataclass(frozen=True)
class Site:
    """A datacenter. GPUs delivered here draw ``server_power_w x PUE`` of facility power;
    those beyond the ready power are *stranded*: owned, paid for, unusable."""

    name: SiteId
    power_budget_kw: float
    pue: float
    ready_blocks: tuple[ReadyBlock, ...] = field(default=())
    electricity_usd_per_kwh: float = 0.08

    def ready_power_kw(self, at: datetime) -> float:
        """Facility power usable at ``at``; a site with no blocks is fully ready."""
        if not self.ready_blocks:
            return self.power_budget_kw
        ready = sum(b.power_kw for b in self.ready_blocks if b.date <= at)
        return min(ready, self.power_budget_kw)


@dataclass(frozen=True)
class NodePool:
    """Identical nodes bought together: one GPU type, one site, one owner, one delivery."""

    name: PoolId
    site: SiteId
    gpu_type: GpuTypeName
    gpus_per_node: int
    node_count: int
    owner: EntityId
    delivered: datetime
    value_usd: float
    nvlink_domain_gpus: int = 8
    nodes_per_rack: int = 4
    racks_per_block: int = 8  # racks under one network block (spine) switch

    @property
    def gpu_count(self) -> int:
        return self.gpus_per_node * self.node_count
