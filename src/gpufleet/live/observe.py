"""One observation of the live fleet from the sources' typed outputs, the mapping file
and what the register says is registered: pure functions, no I/O (asking the sources is
:mod:`gpufleet.live.reading`'s).

:func:`observe` counts, in numbered phases:

1. the schedulers' facts (:mod:`gpufleet.live.facts`): GPUs per node with their state,
   GPUs held by running work, GPUs asked by waiting work;
2. capacity per (holding entity, site, GPU type): ``seen``, ``up``, ``down``,
   ``drained`` from the nodes;
3. use: each held GPU is ``busy`` when its DCGM utilisation is at least
   ``busy_threshold_pct`` (default 10 %), ``idle`` below it, ``unmeasured`` without a
   sample; ``unallocated = up - allocated on up nodes``;
4. GPUs DCGM reports on nodes no scheduler lists (``unscheduled``);
5. demand per (program, GPU type, reason), with Slurm's ``Resources`` refined where the
   job's partition has no GPU of its type up (Slurm 22.05 says ``Resources`` for a job
   whose partition's every node is down): ``CAPACITY_DOWN`` where the partition has such
   GPUs, all down or drained, ``NO_GPU_TYPE`` where it has none;
6. the registered counts joined in, rows sorted.

A source that failed leaves its part unknown (``None``) and is listed in ``failures``;
the rest is still counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from gpufleet.domain import EntityId, GpuTypeName, ProgramId, Reason, SiteId
from gpufleet.live.facts import (
    DOWN,
    DRAINED,
    UP,
    Held,
    KubernetesState,
    NodeGpus,
    SchedulerFacts,
    SlurmState,
    Waiting,
    kubernetes_facts,
    slurm_facts,
)
from gpufleet.live.mapping import ClusterMapping
from gpufleet.live.observation import (
    Capacity,
    Demand,
    DownNode,
    Observation,
    Registered,
    SourceFailure,
    Unmapped,
    Usage,
)
from gpufleet.live.prometheus import GpuSample

DEFAULT_BUSY_THRESHOLD_PCT = 10.0
Key = tuple[EntityId, SiteId, GpuTypeName]


@dataclass
class _Tally:
    """The counts of one capacity row while they are being added up."""

    seen: int = 0
    up: int = 0
    down: int = 0
    drained: int = 0
    allocated: int = 0
    allocated_up: int = 0
    busy: int = 0
    idle: int = 0
    unmeasured: int = 0
    unscheduled: int = 0


@dataclass
class _UseTally:
    allocated: int = 0
    busy: int = 0
    idle: int = 0
    unmeasured: int = 0


@dataclass
class _Telemetry:
    """DCGM samples by node and device index, and by (namespace, pod); ``nodes``: each
    sample's node (its Hostname through the mapping, looked up once per cycle)."""

    by_device: dict[tuple[str, int], float] = field(default_factory=dict)
    by_pod: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    samples: tuple[GpuSample, ...] = ()
    nodes: tuple[str, ...] = ()


def observe(
    at: datetime,
    mapping: ClusterMapping,
    registered: Sequence[Registered],
    slurm: SlurmState | SourceFailure | None = None,
    kubernetes: KubernetesState | SourceFailure | None = None,
    gpus: tuple[GpuSample, ...] | SourceFailure | None = None,
    busy_threshold_pct: float = DEFAULT_BUSY_THRESHOLD_PCT,
) -> Observation:
    """The observation at ``at``; see the module docstring for what is counted how."""
    failures = tuple(s for s in (slurm, kubernetes, gpus) if isinstance(s, SourceFailure))
    if isinstance(slurm, SlurmState):  # read, with a part missing (a job's GPU indices)
        failures = (*slurm.failures, *failures)
    # 1. facts
    facts: list[SchedulerFacts] = []
    if isinstance(slurm, SlurmState):
        facts.append(slurm_facts(slurm, mapping))
    if isinstance(kubernetes, KubernetesState):
        facts.append(kubernetes_facts(kubernetes, mapping))
    nodes = [n for f in facts for n in f.nodes]
    telemetry = _telemetry(gpus, mapping) if isinstance(gpus, tuple) else None
    unmapped = [u for f in facts for u in f.unmapped]
    # 2-4. capacity and use
    tallies: dict[Key, _Tally] = defaultdict(_Tally)
    for n in nodes:
        _count_node(tallies[(n.place.entity, n.place.site, n.gpu_type)], n)
    uses = _count_held(
        [h for f in facts for h in f.held], nodes, tallies, telemetry, busy_threshold_pct
    )
    if telemetry is not None and facts:
        listed = frozenset().union(*(f.listed for f in facts))
        unmapped += _count_unscheduled(telemetry, listed, mapping, tallies)
    # 5. demand
    demand = _demand([w for f in facts for w in f.waiting], nodes)
    # 6. rows
    known = {"schedulers": bool(facts), "telemetry": telemetry is not None}
    return Observation(
        at=at,
        busy_threshold_pct=busy_threshold_pct,
        capacity=_capacity_rows(tallies, registered, known),
        usage=_usage_rows(uses, telemetry is not None),
        demand=demand,
        down_nodes=tuple(_down_nodes(nodes)),
        unmapped=tuple(sorted(unmapped, key=lambda u: (u.source, u.kind, u.name))),
        failures=failures,
        quotas=tuple(q for f in facts for q in f.quotas),
    )


def _count_node(tally: _Tally, n: NodeGpus) -> None:
    tally.seen += n.gpus
    if n.state == UP:
        tally.up += n.gpus
    elif n.state == DRAINED:
        tally.drained += n.gpus
    else:
        tally.down += n.gpus


def _telemetry(samples: tuple[GpuSample, ...], mapping: ClusterMapping) -> _Telemetry:
    node_of: dict[str, str] = {}  # a host's GPUs share its Hostname: one lookup per host
    for s in samples:
        if s.hostname not in node_of:
            node_of[s.hostname] = mapping.node_of_hostname(s.hostname)
    found = _Telemetry(samples=samples, nodes=tuple(node_of[s.hostname] for s in samples))
    for s, node in zip(samples, found.nodes, strict=True):
        found.by_device[(node, s.gpu)] = s.utilisation_pct
        if s.pod:
            found.by_pod.setdefault((s.namespace, s.pod), []).append(s.utilisation_pct)
    return found


UseKey = tuple[EntityId | None, ProgramId | None, EntityId, SiteId, GpuTypeName]


def _count_held(
    held: Iterable[Held],
    nodes: Sequence[NodeGpus],
    tallies: dict[Key, _Tally],
    telemetry: _Telemetry | None,
    threshold: float,
) -> dict[UseKey, _UseTally]:
    where = {(n.scheduler, n.node): n for n in reversed(nodes)}  # a node's first type
    by_type = {(n.scheduler, n.node, n.gpu_type): n for n in nodes}
    uses: dict[UseKey, _UseTally] = defaultdict(_UseTally)
    for h in held:
        node = by_type.get((h.scheduler, h.node, h.gpu_type)) if h.gpu_type else None
        node = node or where.get((h.scheduler, h.node))
        if node is None:
            continue  # on an unmapped node: recorded there
        busy, idle, unmeasured = _split(h, telemetry, threshold)
        tally = tallies[(node.place.entity, node.place.site, node.gpu_type)]
        tally.allocated += h.gpus
        tally.allocated_up += h.gpus if node.state == UP else 0
        tally.busy, tally.idle = tally.busy + busy, tally.idle + idle
        tally.unmeasured += unmeasured
        program = h.program
        key: UseKey = (
            program.entity if program else None,
            program.program if program else None,
            node.place.entity,
            node.place.site,
            node.gpu_type,
        )
        use = uses[key]
        use.allocated += h.gpus
        use.busy, use.idle, use.unmeasured = (
            use.busy + busy,
            use.idle + idle,
            use.unmeasured + unmeasured,
        )
    return uses


def _split(h: Held, telemetry: _Telemetry | None, threshold: float) -> tuple[int, int, int]:
    """(busy, idle, unmeasured) of a holding's GPUs."""
    if telemetry is None:
        return 0, 0, h.gpus
    if h.indices is not None:
        utils = [
            telemetry.by_device[(h.node, i)]
            for i in h.indices
            if (h.node, i) in telemetry.by_device
        ]
    else:
        utils = telemetry.by_pod.get(h.pod, [])[: h.gpus] if h.pod else []
    busy = sum(1 for u in utils if u >= threshold)
    return busy, len(utils) - busy, h.gpus - len(utils)


def _count_unscheduled(
    telemetry: _Telemetry,
    listed: frozenset[str],
    mapping: ClusterMapping,
    tallies: dict[Key, _Tally],
) -> list[Unmapped]:
    """GPUs DCGM reports on nodes that no scheduler lists at all (a node listed but not
    placed by the mapping is recorded as unmapped by its scheduler's facts)."""
    unmapped: dict[tuple[str, str], int] = defaultdict(int)
    for s, node in zip(telemetry.samples, telemetry.nodes, strict=True):
        if node in listed:
            continue
        place = mapping.slurm_place(node, ()) or mapping.kubernetes_place(node)
        gpu_type = mapping.gpu_type(s.model_name)
        if place is None or gpu_type is None:
            unmapped[
                (
                    "hostname" if place is None else "GPU type",
                    node if place is None else s.model_name,
                )
            ] += 1
            continue
        tallies[(place.entity, place.site, gpu_type)].unscheduled += 1
    return [Unmapped(kind, name, "prometheus", n) for (kind, name), n in unmapped.items()]


def _demand(waiting: Iterable[Waiting], nodes: Sequence[NodeGpus]) -> tuple[Demand, ...]:
    up_types = {(p, n.gpu_type) for n in nodes if n.state == UP for p in n.partitions}
    all_types = {(p, n.gpu_type) for n in nodes for p in n.partitions}
    groups: dict[tuple[object, ...], list[Waiting]] = defaultdict(list)
    for w in waiting:
        reason = w.reason
        where = (w.partition, w.gpu_type)
        if (
            w.scheduler == "slurm"
            and reason is Reason.CAPACITY
            and w.gpu_type is not None
            and where not in up_types
        ):
            reason = Reason.CAPACITY_DOWN if where in all_types else Reason.NO_GPU_TYPE
        program = w.program
        key = (
            program.entity if program else None,
            program.program if program else None,
            w.gpu_type,
            reason,
        )
        groups[key].append(w)
    rows = [
        Demand(
            entity=ws[0].program.entity if ws[0].program else None,
            program=ws[0].program.program if ws[0].program else None,
            gpu_type=ws[0].gpu_type,
            reason=key[3] if isinstance(key[3], Reason) else None,
            scheduler_reasons=tuple(sorted({w.scheduler_reason for w in ws})),
            gpus=sum(w.gpus for w in ws),
            jobs=len(ws),
        )
        for key, ws in groups.items()
    ]
    return tuple(
        sorted(rows, key=lambda d: (str(d.entity), str(d.program), str(d.gpu_type), str(d.reason)))
    )


def _capacity_rows(
    tallies: dict[Key, _Tally], registered: Sequence[Registered], known: dict[str, bool]
) -> tuple[Capacity, ...]:
    listed: dict[Key, int] = defaultdict(int)
    for r in registered:
        listed[(r.entity, r.site, r.gpu_type)] += r.gpus
    rows = []
    for key in sorted(set(listed) | set(tallies)):
        t = tallies.get(key, _Tally())
        rows.append(
            _capacity_row(key, listed.get(key, 0), t, known["schedulers"], known["telemetry"])
        )
    return tuple(rows)


def _capacity_row(key: Key, registered: int, t: _Tally, sched: bool, tele: bool) -> Capacity:
    def s(value: int) -> int | None:
        return value if sched else None

    def u(value: int) -> int | None:
        return value if sched and tele else None

    return Capacity(
        entity=key[0],
        site=key[1],
        gpu_type=key[2],
        registered=registered,
        seen=s(t.seen),
        up=s(t.up),
        down=s(t.down),
        drained=s(t.drained),
        allocated=s(t.allocated),
        unallocated=s(max(0, t.up - t.allocated_up)),
        busy=u(t.busy),
        idle=u(t.idle),
        unmeasured=u(t.unmeasured),
        unscheduled=u(t.unscheduled),
    )


def _usage_rows(uses: dict[UseKey, _UseTally], tele: bool) -> tuple[Usage, ...]:
    rows = [
        Usage(
            entity=k[0],
            program=k[1],
            holder=k[2],
            site=k[3],
            gpu_type=k[4],
            allocated=t.allocated,
            busy=t.busy if tele else None,
            idle=t.idle if tele else None,
            unmeasured=t.unmeasured if tele else None,
        )
        for k, t in uses.items()
    ]
    return tuple(
        sorted(rows, key=lambda r: (str(r.entity), str(r.program), r.holder, r.site, r.gpu_type))
    )


def _down_nodes(nodes: Iterable[NodeGpus]) -> Iterable[DownNode]:
    for n in sorted(nodes, key=lambda n: (n.scheduler, n.node, n.gpu_type)):
        if n.state in (DOWN, DRAINED):
            yield DownNode(
                n.scheduler,
                n.node,
                n.place.entity,
                n.place.site,
                n.place.pool,
                n.gpu_type,
                n.gpus,
                n.state,
                n.reason,
            )
