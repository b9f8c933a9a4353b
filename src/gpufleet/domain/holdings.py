"""Who holds each pool's nodes as transfers happen: the check behind every transfer."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from gpufleet.domain.changes import Transfer
from gpufleet.domain.fleet import NodePool


@dataclass(frozen=True)
class HoldingProblem:
    transfer: Transfer
    at_end: bool  # the lease's return failed, not its start
    when: datetime
    holder: str
    held_gpus: int

    @property
    def message(self) -> str:
        t = self.transfer
        return (
            f"on {self.when:%Y-%m-%d} {self.holder!r} holds {self.held_gpus} GPUs of pool "
            f"{t.pool!r}, and this transfer moves {t.gpus}"
        )


def replay_holdings(
    transfers: Iterable[Transfer], pools: dict[str, NodePool]
) -> list[HoldingProblem]:
    """Each transfer must come from an entity holding enough of the pool at its start
    (counting earlier transfers and returned leases); a lease can only come back if the
    lessee still holds it at its end. At one instant, returns happen before new moves."""
    events: list[tuple[datetime, int, Transfer]] = []
    for t in transfers:
        events.append((t.start, 1, t))
        if t.end is not None:
            events.append((t.end, 0, t))
    held = {name: {p.owner: p.node_count} for name, p in pools.items()}
    problems: list[HoldingProblem] = []
    for when, starting, t in sorted(events, key=lambda e: (e[0], e[1])):
        pool = pools[t.pool]
        nodes = t.gpus // pool.gpus_per_node
        giver, taker = (t.from_entity, t.to_entity) if starting else (t.to_entity, t.from_entity)
        have = held[t.pool].get(giver, 0)
        if have < nodes:
            problems.append(HoldingProblem(t, not starting, when, giver, have * pool.gpus_per_node))
            continue
        held[t.pool][giver] = have - nodes
        held[t.pool][taker] = held[t.pool].get(taker, 0) + nodes
    return problems


def holders_at(
    pools: dict[str, NodePool], transfers: Iterable[Transfer], at: datetime
) -> dict[str, dict[str, int]]:
    """pool -> entity -> GPUs held at ``at`` (transfers that start at ``at`` included)."""
    held: dict[str, dict[str, int]] = {
        name: {str(p.owner): p.gpu_count} for name, p in pools.items()
    }
    for t in sorted(transfers, key=lambda t: t.start):
        active = t.start <= at and (t.end is None or at < t.end)
        if active:
            h = held[t.pool]
            h[t.from_entity] = h.get(t.from_entity, 0) - t.gpus
            h[t.to_entity] = h.get(t.to_entity, 0) + t.gpus
    return held
