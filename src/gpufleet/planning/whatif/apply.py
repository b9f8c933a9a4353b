"""A variant = a base scenario with changes applied; every change is checked against it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from gpufleet.domain.changes import QuotaChange, Transfer
from gpufleet.domain.fleet import NodePool, ReadyBlock, Site
from gpufleet.domain.gpus import GpuCatalog
from gpufleet.domain.holdings import holders_at, replay_holdings
from gpufleet.domain.ids import EntityId, GpuTypeName, PoolId, ProgramId, SiteId
from gpufleet.domain.org import Entity
from gpufleet.domain.scenario import PolicySpec, Scenario
from gpufleet.errors import InputError
from gpufleet.planning.whatif.changes import (
    Change,
    ChangeError,
    DelaySite,
    Deliver,
    Move,
    ScaleLoad,
    SetPolicy,
    SetQuota,
    SetWeight,
)

KIND = {
    Move: "move",
    SetQuota: "quota",
    SetWeight: "weight",
    Deliver: "deliver",
    DelaySite: "delay",
    SetPolicy: "policy",
    ScaleLoad: "scale",
}


class _Fail:
    def __init__(self, change: Change, text: str) -> None:
        self.kind = KIND[type(change)]
        self.text = text

    def __call__(self, problem: str) -> ChangeError:
        return ChangeError(self.kind, self.text, problem)


def resolve_type(catalog: GpuCatalog, name: str) -> GpuTypeName | None:
    """A catalog name from an exact name or a unique prefix, any case."""
    names = catalog.names()
    for n in names:
        if n.lower() == name.lower():
            return n
    hits = [n for n in names if n.lower().startswith(name.lower())]
    return hits[0] if len(hits) == 1 else None


def describe(change: Change) -> str:
    return f"{KIND[type(change)]} {change}"


def apply_changes(base: Scenario, changes: list[tuple[Change, str]], name: str) -> Scenario:
    """``changes``: (change, the text it came from, for messages). Order matters only
    between changes of the same kind (later quota changes at the same date win)."""
    sc = replace(base, name=name)
    for change, text in changes:
        sc = _apply(sc, change, _Fail(change, text))
    problems = replay_holdings(sc.transfers, {p.name: p for p in sc.pools})
    if problems:
        raise InputError(f"variant {name!r}: {problems[0].message}")
    return sc


def _apply(sc: Scenario, c: Change, fail: _Fail) -> Scenario:
    if isinstance(c, Move):
        return _move(sc, c, fail)
    if isinstance(c, SetQuota):
        t = _type(sc, c.gpu_type, fail)
        _program(sc, c.program, fail)
        _in_range(sc, c.at, fail)
        q = QuotaChange(
            c.at, ProgramId(c.program), t, c.nominal, c.borrowing_limit, c.lending_limit
        )
        return replace(sc, quota_changes=(*sc.quota_changes, q))
    if isinstance(c, SetWeight):
        _program(sc, c.program, fail)
        ents = tuple(
            replace(
                e,
                programs=tuple(
                    replace(p, weight=c.weight) if p.name == c.program else p for p in e.programs
                ),
            )
            for e in sc.entities
        )
        return replace(sc, entities=ents)
    if isinstance(c, Deliver):
        return _deliver(sc, c, fail)
    if isinstance(c, DelaySite):
        return _delay(sc, c, fail)
    if isinstance(c, SetPolicy):
        from gpufleet.policies.registry import available_policies

        names = [n for n, _, _ in available_policies()]
        if c.name not in names:
            raise fail(f"unknown policy {c.name!r}; policies: {', '.join(names)}")
        return replace(sc, policy=PolicySpec(c.name))
    return _scale(sc, c, fail)


def _type(sc: Scenario, name: str, fail: _Fail) -> GpuTypeName:
    t = resolve_type(sc.catalog, name)
    if t is None:
        names = sc.catalog.names()
        hits = [n for n in names if n.lower().startswith(name.lower())]
        if hits:
            raise fail(f"GPU type {name!r} matches several: " + ", ".join(hits))
        raise fail(f"GPU type {name!r} matches none of: " + ", ".join(names))
    return t


def _entity(sc: Scenario, name: str, fail: _Fail) -> Entity:
    for e in sc.entities:
        if e.name == name:
            return e
    raise fail(f"unknown entity {name!r}; entities: " + ", ".join(e.name for e in sc.entities))


def _program(sc: Scenario, name: str, fail: _Fail) -> None:
    names = [p.name for p in sc.programs()]
    if name not in names:
        raise fail(f"unknown program {name!r}; programs: " + ", ".join(names))


def _in_range(sc: Scenario, at: datetime, fail: _Fail) -> None:
    if not (sc.start <= at <= sc.end):
        raise fail(
            f"{at:%Y-%m-%d} is outside the scenario ({sc.start:%Y-%m-%d} .. {sc.end:%Y-%m-%d})"
        )


def _program_of(
    sc: Scenario, ent: Entity, given: str | None, t: GpuTypeName, fail: _Fail
) -> ProgramId:
    names = [p.name for p in ent.programs]
    if given is not None:
        if given not in names:
            raise fail(
                f"{given!r} is not a program of {ent.name!r}; its programs: " + ", ".join(names)
            )
        return ProgramId(given)
    with_type = [p.name for p in ent.programs if p.quota(t)]
    if len(with_type) == 1:
        return with_type[0]
    if len(names) == 1:
        return names[0]
    raise fail(
        f"{ent.name!r} has {len(names)} programs; name one as "
        f"{ent.name}/PROGRAM: " + ", ".join(names)
    )


def _move(sc: Scenario, c: Move, fail: _Fail) -> Scenario:
    t = _type(sc, c.gpu_type, fail)
    src, dst = _entity(sc, c.from_entity, fail), _entity(sc, c.to_entity, fail)
    if src.name == dst.name:
        raise fail(f"a move from {src.name!r} to itself")
    _in_range(sc, c.start, fail)
    if c.to_site is not None and c.to_site not in {s.name for s in sc.sites}:
        raise fail(f"unknown site {c.to_site!r}; sites: " + ", ".join(s.name for s in sc.sites))
    fp = _program_of(sc, src, c.from_program, t, fail)
    tp = _program_of(sc, dst, c.to_program, t, fail)
    held = holders_at({p.name: p for p in sc.pools}, sc.transfers, c.start)
    if c.pool is not None:
        pools = [p for p in sc.pools if p.name == c.pool]
        if not pools:
            raise fail(f"unknown pool {c.pool!r}; pools: " + ", ".join(p.name for p in sc.pools))
        if pools[0].gpu_type != t:
            raise fail(f"pool {c.pool!r} holds {pools[0].gpu_type}, not {t}")
    else:  # a shipment not yet delivered first, then the newest pools
        pools = sorted(sc.pools, key=lambda p: (p.delivered <= c.start, -p.delivered.timestamp()))
    need = c.gpus
    moves: list[Transfer] = []
    for pool in pools:
        if pool.gpu_type != t or need <= 0:
            continue
        have = held[pool.name].get(src.name, 0)
        take = min(have, need) // pool.gpus_per_node * pool.gpus_per_node
        if take <= 0:
            continue
        price = c.price_usd * take / c.gpus
        moves.append(
            Transfer(
                f"move {take} {t} {src.name}->{dst.name} ({pool.name})",
                pool.name,
                take,
                src.name,
                dst.name,
                fp,
                tp,
                c.start,
                c.end,
                price,
                SiteId(c.to_site) if c.to_site else None,
            )
        )
        need -= take
    if need > 0:
        of_type = [p for p in sc.pools if p.gpu_type == t]
        total = sum(held[p.name].get(src.name, 0) for p in of_type)
        if total >= c.gpus:  # enough GPUs, but not in whole nodes of the pools taken from
            sizes = sorted({p.gpus_per_node for p in of_type if held[p.name].get(src.name)})
            raise fail(
                f"{c.gpus} GPUs are not whole nodes: {src.name}'s {t} pools have "
                f"{' or '.join(map(str, sizes))} GPUs per node"
            )
        raise fail(
            f"on {c.start:%Y-%m-%d} {src.name!r} holds {total} {t} GPUs in whole "
            f"nodes, fewer than {c.gpus}"
        )
    return replace(sc, transfers=(*sc.transfers, *moves))


def _deliver(sc: Scenario, c: Deliver, fail: _Fail) -> Scenario:
    t = _type(sc, c.gpu_type, fail)
    _entity(sc, c.owner, fail)
    if c.site not in {s.name for s in sc.sites}:
        raise fail(f"unknown site {c.site!r}; sites: " + ", ".join(s.name for s in sc.sites))
    _in_range(sc, c.date, fail)
    nodes = c.gpus // c.gpus_per_node
    value = c.value_usd if c.value_usd is not None else sc.catalog.get(t).price_usd * c.gpus
    name = f"delivery-{len(sc.pools)}-{c.owner}-{t}"
    pool = NodePool(
        PoolId(name), SiteId(c.site), t, c.gpus_per_node, nodes, EntityId(c.owner), c.date, value
    )
    return replace(sc, pools=(*sc.pools, pool))


def _delay(sc: Scenario, c: DelaySite, fail: _Fail) -> Scenario:
    sites = []
    found = False
    for s in sc.sites:
        if s.name != c.site:
            sites.append(s)
            continue
        found = True
        shift = timedelta(days=c.days)
        if s.ready_blocks and all(b.date <= sc.start for b in s.ready_blocks):
            raise fail(
                f"every power block of site {s.name!r} is ready by the scenario's start "
                f"({sc.start:%Y-%m-%d}): nothing to delay"
            )
        if s.ready_blocks:
            blocks = tuple(
                replace(b, date=b.date + shift) if b.date > sc.start else b for b in s.ready_blocks
            )
        else:  # fully ready from the start: now ready only after the delay
            blocks = (ReadyBlock(sc.start + shift, s.power_budget_kw, "delayed"),)
        sites.append(Site(s.name, s.power_budget_kw, s.pue, blocks, s.electricity_usd_per_kwh))
    if not found:
        raise fail(f"unknown site {c.site!r}; sites: " + ", ".join(s.name for s in sc.sites))
    return replace(sc, sites=tuple(sites))


def _scale(sc: Scenario, c: ScaleLoad, fail: _Fail) -> Scenario:
    _program(sc, c.program, fail)
    out = []
    hit = False
    for prog, factory in sc.workloads:
        if prog == c.program:
            scaled = getattr(factory, "scaled", None)
            if scaled is None:
                raise fail(f"the workload of {c.program!r} cannot be scaled")
            out.append((prog, scaled(c.factor)))
            hit = True
        else:
            out.append((prog, factory))
    if not hit:
        raise fail(f"program {c.program!r} has no workload to scale")
    return replace(sc, workloads=tuple(out))
