"""The fleet a forecast runs on, built from what Slurm reports: nodes into pools, Slurm's
association tree into entities and programs.

Why the run's names are Slurm's and not the register's: the forecast ranks jobs as Slurm
does, by account (Slurm's Fair Tree, slurm.schedmd.com/fair_tree.html, and its
association limits are per account). So each Slurm account is an entity of the run with
one program of the same name, weighted by the account's shares; the register's program of
each job (the mapping's account -> program) is kept beside it for the output. Users
inside an account are not told apart (the Slurm policies' model: an account's users are
one leaf); Slurm ranks them too, by their own usage.

All of a cluster's nodes are one cohort (named after the cluster): under Slurm any account
may run on any node its partition allows, and the partition is represented by the GPU
types of its nodes (the dev cluster's partitions are one GPU type each). A node's pool,
site and holder come from the mapping; a node it does not place keeps its cluster's name
as site and ``partition-TYPE`` as pool. A node whose GPU type the mapping does not name
is left out (named in the forecast's notes): no job could be placed on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from gpufleet.domain import (
    CohortId,
    EntityId,
    GpuCatalog,
    GpuTypeName,
    PoolId,
    ProgramId,
    SiteId,
)
from gpufleet.domain.fleet import NodePool, Site
from gpufleet.domain.org import Entity, Program
from gpufleet.live.mapping import ClusterMapping
from gpufleet.live.slurm.model import Association, FairShare, SlurmNode


@dataclass(frozen=True)
class FleetNode:
    """One Slurm node as the run holds it: its index in the run's state, pool and type."""

    name: str
    index: int
    pool: PoolId
    gpu_type: GpuTypeName
    gpus: int
    usable: bool
    partitions: tuple[str, ...]


@dataclass(frozen=True)
class Fleet:
    sites: tuple[Site, ...]
    pools: tuple[NodePool, ...]
    nodes: dict[str, FleetNode]
    notes: tuple[str, ...]

    def types_of_partitions(self, partitions: Iterable[str]) -> tuple[GpuTypeName, ...]:
        """The GPU types of the nodes in any of ``partitions``, in name order."""
        found: set[GpuTypeName] = set()
        by_partition = self.types_by_partition
        for p in partitions:
            found.update(by_partition.get(p, ()))
        return tuple(sorted(found))

    @cached_property
    def types_by_partition(self) -> dict[str, frozenset[GpuTypeName]]:
        out: dict[str, set[GpuTypeName]] = {}
        for n in self.nodes.values():
            for p in n.partitions:
                out.setdefault(p, set()).add(n.gpu_type)
        return {p: frozenset(ts) for p, ts in out.items()}


def build_fleet(
    nodes: Sequence[SlurmNode],
    mapping: ClusterMapping,
    catalog: GpuCatalog,
    cluster: str,
    owner: EntityId,
    now: datetime,
) -> Fleet:
    """Pools of identical nodes (one pool of the mapping may split by GPUs per node), in
    the order the pools' first nodes come by name; nodes numbered pool by pool, as
    ``gpufleet.engine.timeline.build_state`` numbers them."""
    notes: list[str] = []
    groups: dict[tuple[PoolId, GpuTypeName, int], list[SlurmNode]] = {}
    pool_place: dict[PoolId, tuple[SiteId, EntityId]] = {}
    for node in sorted(nodes, key=lambda n: n.name):
        typed = [g for g in node.gpus if g.count > 0]
        if not typed:
            continue
        gpu_type = mapping.gpu_type(typed[0].gpu_type)
        if gpu_type is None:
            notes.append(
                f"node {node.name} left out: its GPU type {typed[0].gpu_type!r} is not in "
                "the mapping's gpu_types"
            )
            continue
        place = mapping.slurm_place(node.name, node.partitions)
        if place is None:
            part = node.partitions[0] if node.partitions else "none"
            pool, site, holder = PoolId(f"{part}-{typed[0].gpu_type}"), SiteId(cluster), owner
        else:
            pool, site, holder = place.pool, place.site, place.entity
        pool_place.setdefault(pool, (site, holder))
        size = sum(g.count for g in typed)
        groups.setdefault((pool, gpu_type, size), []).append(node)
    return _assemble(groups, pool_place, catalog, owner, now, notes)


def _assemble(
    groups: dict[tuple[PoolId, GpuTypeName, int], list[SlurmNode]],
    pool_place: dict[PoolId, tuple[SiteId, EntityId]],
    catalog: GpuCatalog,
    owner: EntityId,
    now: datetime,
    notes: list[str],
) -> Fleet:
    pools: list[NodePool] = []
    fleet_nodes: dict[str, FleetNode] = {}
    site_kw: dict[SiteId, float] = {}
    for (pool, gpu_type, size), members in groups.items():
        site, _holder = pool_place[pool]
        name = pool if sum(1 for k in groups if k[0] == pool) == 1 else PoolId(f"{pool}-{size}")
        server_w = catalog.get(gpu_type).server_power_w
        site_kw[site] = site_kw.get(site, 0.0) + len(members) * size * server_w / 1000.0
        pools.append(
            NodePool(
                name=name,
                site=site,
                gpu_type=gpu_type,
                gpus_per_node=size,
                node_count=len(members),
                owner=owner,  # the run's holder: one cohort, so who holds a node is moot
                delivered=now - timedelta(days=1),
                value_usd=0.0,
            )
        )
        for node in members:
            fleet_nodes[node.name] = FleetNode(
                node.name, len(fleet_nodes), name, gpu_type, size, node.usable, node.partitions
            )
    # every site has twice the power its nodes draw: a forecast strands nothing for power
    sites = tuple(Site(s, power_budget_kw=2.0 * kw + 1.0, pue=1.0) for s, kw in site_kw.items())
    return Fleet(sites, tuple(pools), fleet_nodes, tuple(notes))


# --- the accounts ------------------------------------------------------------------------
@dataclass(frozen=True)
class Member:
    """One Slurm account as an entity of the run with one program of the same name."""

    account: str
    program: ProgramId
    shares: float
    usage: float  # Slurm's RawUsage of the account (decayed, in its billing units)


def account_program(account: str) -> ProgramId:
    return ProgramId(account)


def build_members(
    accounts: Iterable[str],
    associations: Sequence[Association],
    fairshare: Sequence[FairShare],
) -> tuple[Member, ...]:
    """A program per account that has jobs, with the account's shares (1 where sacctmgr
    lists none) and sshare's usage of the account."""
    shares = {a.account: float(a.shares) for a in associations if not a.user and a.shares}
    usage = {f.account: float(f.raw_usage) for f in fairshare if not f.user}
    return tuple(
        Member(a, account_program(a), shares.get(a, 1.0), usage.get(a, 0.0))
        for a in sorted(set(accounts))
    )


def entities_of(members: Sequence[Member], cohort: str) -> tuple[Entity, ...]:
    """An entity per account holding its one program, all in one cohort."""
    return tuple(
        Entity(
            name=EntityId(m.account),
            cohort=CohortId(cohort),
            programs=(Program(name=m.program, entity=EntityId(m.account), weight=m.shares),),
        )
        for m in members
    )
