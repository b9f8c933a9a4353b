"""The fleet report: what the plan holds by site and by entity, when sites become ready,
the capacity stranded waiting for power, and every entity's allocation over time.

Everything comes from one :class:`gpufleet.planning.allocation.Replay` of the plan: the
simulator's own state and engine apply the plan's timeline (deliveries, readiness blocks,
the approved, active and ended transfers, quota changes) in the simulator's order, with
no jobs. At each instant where something changes, the state gives per node its owner,
site, GPU type, value, and whether it is delivered and powered (a site powers its
delivered nodes in delivery order while its ready power lasts; see
``ClusterState.repower``). So this is a *static* computation: no workload is simulated,
and it needs no seed.

**Stranded capacity** is GPUs delivered to a site that has not the ready power for them:

    stranded(t)     = delivered GPUs(t) - powered GPUs(t)
    stranded GPU-days = sum over the intervals [t_i, t_i+1) between changes, up to the
                        plan's end, of stranded(t_i) x (t_i+1 - t_i) / 1 day

which is what the simulator integrates too (``fleet_stranded`` in :mod:`gpufleet.sim`),
without jobs (a job never changes whether a node is powered). The article's plan: Tesla's
12,000 H100 delivered 2024-06-15 wait for the hall powered 2024-10-15: 12,000 x 122 days
= 1,464,000 GPU-days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gpufleet.domain.scenario import Scenario
from gpufleet.planning.allocation import Replay
from gpufleet.state.cluster import ClusterState

DAY_S = 86_400.0


@dataclass
class Tally:
    """GPUs (all owned, delivered, powered) and value of a set of nodes."""

    gpus: int = 0
    delivered: int = 0
    ready: int = 0
    value_usd: float = 0.0
    needed_kw: float = 0.0  # facility power the delivered GPUs need (server power x PUE)

    @property
    def stranded(self) -> int:
        return self.delivered - self.ready

    def as_dict(self) -> dict[str, Any]:
        return {
            "gpus": self.gpus,
            "delivered": self.delivered,
            "ready": self.ready,
            "stranded": self.stranded,
            "value_usd": round(self.value_usd, 2),
        }


@dataclass
class FleetView:
    """The fleet at one instant, by site and by entity (with each entity's quotas): a
    report's view, not the engine's :class:`gpufleet.state.snapshot.Snapshot`."""

    at: datetime
    sites: dict[str, Tally] = field(default_factory=dict)
    entities: dict[str, Tally] = field(default_factory=dict)
    quotas: dict[str, dict[str, int]] = field(default_factory=dict)  # entity -> type -> GPUs

    @property
    def fleet(self) -> Tally:
        t = Tally()
        for s in self.sites.values():
            t.gpus += s.gpus
            t.delivered += s.delivered
            t.ready += s.ready
            t.value_usd += s.value_usd
        return t


def fleet_view(replay: Replay, at: datetime) -> FleetView:
    """The replay's state now, labelled ``at``."""
    st: ClusterState = replay.state
    sc = replay.sc
    snap = FleetView(at)
    snap.sites = {s.name: Tally() for s in sc.sites}
    snap.entities = {e.name: Tally() for e in sc.entities}
    cap = st.capacity
    for n, owner in enumerate(st.node_owner):
        gpus = cap.node_gpus[n]
        site = st.sites[st.node_site[n]]
        for t in (snap.sites[st.node_site[n]], snap.entities[st.entities[owner]]):
            t.gpus += gpus
            t.value_usd += st.node_value_usd[n]
            if st.node_delivered[n]:
                t.delivered += gpus
                t.needed_kw += st.node_kw[n] * site.pue
                if st.node_powered[n]:
                    t.ready += gpus
    alloc = replay.allocation(at)
    for p in alloc.programs():
        mine = snap.quotas.setdefault(p.entity, {})
        for gpu_type, q in p.quotas:
            mine[gpu_type] = mine.get(gpu_type, 0) + q.nominal_gpus
    return snap


def plan_timeline(sc: Scenario) -> list[tuple[float, FleetView]]:
    """(seconds since the start, fleet view) at the start and at each change, in order."""
    replay = Replay(sc)
    out = []
    for t_s in replay.instants_s():
        replay.advance(t_s)
        out.append((t_s, fleet_view(replay, sc.start + timedelta(seconds=t_s))))
    return out


def stranded_gpu_days(
    steps: list[tuple[float, FleetView]], horizon_s: float
) -> tuple[float, dict[str, float], dict[str, float]]:
    """(fleet, by site, by entity) stranded GPU-days: each step's stranded GPUs times
    the time until the next step (the last: until the horizon)."""
    fleet = 0.0
    sites: dict[str, float] = {}
    ents: dict[str, float] = {}
    for i, (t_s, snap) in enumerate(steps):
        nxt = steps[i + 1][0] if i + 1 < len(steps) else horizon_s
        days = max(0.0, min(nxt, horizon_s) - t_s) / DAY_S
        for name, t in snap.sites.items():
            sites[name] = sites.get(name, 0.0) + t.stranded * days
            fleet += t.stranded * days
        for name, t in snap.entities.items():
            ents[name] = ents.get(name, 0.0) + t.stranded * days
    return fleet, sites, ents


def at_instant(steps: list[tuple[float, FleetView]], at_s: float) -> FleetView:
    """The fleet view in force ``at_s`` seconds after the start (the last step at or
    before it)."""
    current = steps[0][1]
    for t_s, snap in steps:
        if t_s <= at_s:
            current = snap
    return current


def readiness(sc: Scenario) -> list[dict[str, Any]]:
    """Each site's ready-power steps: the block's date and kW, and the site's ready power
    from then on (the sum of its blocks so far, capped by its budget)."""
    out = []
    for s in sc.sites:
        steps = []
        for b in sorted(s.ready_blocks, key=lambda b: b.date):
            steps.append(
                {
                    "date": b.date.isoformat(),
                    "power_kw": b.power_kw,
                    "ready_kw": s.ready_power_kw(b.date),
                    "note": b.note,
                }
            )
        out.append({"site": s.name, "power_kw": s.power_budget_kw, "pue": s.pue, "steps": steps})
    return out


def report(sc: Scenario, at: datetime, entities: Iterable[str] | None = None) -> dict[str, Any]:
    """The whole fleet report at ``at`` (clamped into the plan). ``entities``: the
    entities whose own figures may be shown (None: all); fleet and site totals are
    always shown, a site's split by entity never."""
    at = min(max(at, sc.start), sc.end)
    steps = plan_timeline(sc)
    show = set(entities) if entities is not None else {e.name for e in sc.entities}
    fleet_days, site_days, ent_days = stranded_gpu_days(steps, sc.horizon_s)
    snap = at_instant(steps, sc.seconds(at))
    ready = {r["site"]: r for r in readiness(sc)}
    by_site = [
        {
            "site": name,
            **t.as_dict(),
            "needed_kw": round(t.needed_kw, 1),
            "ready_kw": next(s for s in sc.sites if s.name == name).ready_power_kw(at),
            "power_kw": ready[name]["power_kw"],
            "stranded_gpu_days": round(site_days[name], 2),
        }
        for name, t in snap.sites.items()
    ]
    by_entity = [
        {
            "entity": name,
            **t.as_dict(),
            "quota": snap.quotas.get(name, {}),
            "stranded_gpu_days": round(ent_days[name], 2),
        }
        for name, t in snap.entities.items()
        if name in show
    ]
    return {
        "plan": {"name": sc.name, "start": sc.start.isoformat(), "end": sc.end.isoformat()},
        "at": at.isoformat(),
        "fleet": {**snap.fleet.as_dict(), "stranded_gpu_days": round(fleet_days, 2)},
        "by_site": by_site,
        "by_entity": by_entity,
        "readiness": list(ready.values()),
        "stranded": {
            "gpu_days": round(fleet_days, 2),
            "by_site": {k: round(v, 2) for k, v in site_days.items()},
            "by_entity": {k: round(v, 2) for k, v in ent_days.items() if k in show},
            "method": "static replay of the plan's timeline: delivered minus powered GPUs, "
            "integrated between changes up to the plan's end (no jobs simulated)",
        },
        "allocations": [
            {
                "at": s.at.isoformat(),
                "fleet": s.fleet.as_dict(),
                "entities": {
                    name: {**t.as_dict(), "quota": s.quotas.get(name, {})}
                    for name, t in s.entities.items()
                    if name in show
                },
            }
            for _, s in steps
        ],
    }
