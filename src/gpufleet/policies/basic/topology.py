"""Topology-aware gang placement, after Kueue's Topology Aware Scheduling (TAS).

Source: Kueue, "Topology Aware Scheduling"
(https://kueue.sigs.k8s.io/docs/concepts/topology_aware_scheduling/) and "Run Workloads with
Topology-Aware Scheduling" (https://kueue.sigs.k8s.io/docs/tasks/run/topology_aware_scheduling/).
A data center is a hierarchy of levels; pods in the same unit talk faster than pods in
different ones. A PodSet annotated ``kueue.x-k8s.io/podset-required-topology: <level>``
must fit entirely inside one domain of that level or it waits; one annotated
``podset-preferred-topology: <level>`` goes into the smallest level, from that one up, that
fits.

Here the levels are, innermost first (``gpufleet.domain.jobs.TOPOLOGY_LEVELS``):

    nvlink  nodes sharing an NVLink domain (``ClusterState.topology.node_domain``)
    rack    ``nodes_per_rack`` nodes of one pool
    block   ``racks_per_block`` racks of one pool (a network block, one spine switch)
    site    the capacity group: one (cohort, site, GPU type)

Rule, for a job with a constraint (one without one is placed exactly as ``BestFit``):

1. Levels to try: from ``topology_preferred`` (or, absent, ``topology_required``) up to
   ``topology_required`` (or, absent, ``site``); a preferred level above the required one
   is cut to the required one.
2. Per allowed GPU type in the job's order (admission first, as ``BestFit``), per level in
   order: every domain of that level in every site group of the type is a candidate when
   the gang fits its nodes under the node rule of :mod:`gpufleet.state.capacity` (a job of
   at most one node's GPUs on one node, best fit; a bigger one largest-free first, last
   piece best fit). The first level with a candidate wins.
3. Among the candidates: ``consolidate`` (Kueue's default BestFit) takes the domain with the
   fewest free GPUs that still fits, keeping big domains whole for big gangs; ``spread``
   takes the one with the most. Ties: the tighter last node, then group order, then domain id.
4. Nothing fits: ``NO_TOPOLOGY_DOMAIN`` when the plain rule would have placed the job (the
   constraint alone blocks it), else ``FRAGMENTED`` or ``CAPACITY`` as ``BestFit``.

Cost: a level below the site scans the group's nodes that have a free GPU (one pass over the
buckets, which also yields them largest-free first), so one attempt is O(nodes with free
GPUs) per level and group, not O(buckets) as ``BestFit``. The site level uses the buckets.
"""

from __future__ import annotations

from typing import ClassVar

from gpufleet.domain.jobs import TOPOLOGY_LEVELS
from gpufleet.domain.reasons import Reason
from gpufleet.errors import InternalError
from gpufleet.policies.base import Admission
from gpufleet.policies.basic.fifo import StrictFifo
from gpufleet.policies.options import Options, one_of
from gpufleet.policies.placement import BestFit
from gpufleet.state.capacity import CapacityIndex, Group, Placement, Slots
from gpufleet.state.cluster import NodeTopology
from gpufleet.state.jobs import Job
from gpufleet.state.snapshot import Snapshot

DOMAIN_CHOICES = ("consolidate", "spread")

# A candidate's sort key: (free GPUs in the domain, +/-; last node's leftover; group order;
# domain id)
_Key = tuple[int, int, int, int]


def levels_to_try(required: str | None, preferred: str | None) -> tuple[str, ...]:
    """The levels a job may be placed at, innermost first; () for an unconstrained job."""
    if required is None and preferred is None:
        return ()
    for given in (required, preferred):
        if given is not None and given not in TOPOLOGY_LEVELS:
            raise InternalError(f"unknown topology level {given!r}")
    hi = TOPOLOGY_LEVELS.index(required) if required else len(TOPOLOGY_LEVELS) - 1
    lo = min(TOPOLOGY_LEVELS.index(preferred), hi) if preferred else hi
    return TOPOLOGY_LEVELS[lo : hi + 1]


def fit_nodes(nodes: list[tuple[int, int]], gpus: int, top: int) -> Slots | None:
    """The capacity index's node rule on a list of (node, free GPUs), largest free first."""
    if gpus <= top:
        best, best_free = -1, top + 1
        for node, free in nodes:  # descending: stop at the first that is too small
            if free < gpus:
                break
            if free < best_free:  # the first of the tightest
                best, best_free = node, free
        return None if best < 0 else ((best, gpus),)
    chosen: list[tuple[int, int]] = []
    rem = gpus
    for i, (node, free) in enumerate(nodes):
        if rem <= free:  # the remainder goes best fit among the nodes not taken
            j = i
            for k in range(i + 1, len(nodes)):
                if nodes[k][1] < rem:
                    break
                if nodes[k][1] < nodes[j][1]:
                    j = k
            chosen.append((nodes[j][0], rem))
            return tuple(chosen)
        chosen.append((node, free))
        rem -= free
    return None


def domains_of(cap: CapacityIndex, g: Group, ids: list[int]) -> dict[int, list[tuple[int, int]]]:
    """The group's nodes with a free GPU, by domain id, each list largest free first."""
    out: dict[int, list[tuple[int, int]]] = {}
    free = cap.node_free
    for k in range(g.max_gpus, 0, -1):
        for node in g.buckets[k]:
            out.setdefault(ids[node], []).append((node, free[node]))
    return out


class TopologyAware:
    """The PlacementStrategy seam with Kueue TAS's required/preferred levels (see module)."""

    def __init__(self, domain_choice: str = "consolidate") -> None:
        if domain_choice not in DOMAIN_CHOICES:
            raise InternalError(f"domain_choice {domain_choice!r} not in {DOMAIN_CHOICES}")
        self.sign = -1 if domain_choice == "spread" else 1
        self.plain = BestFit()

    def place(self, snap: Snapshot, job: Job, admission: Admission) -> Placement | Reason:
        spec = job.spec
        levels = levels_to_try(spec.topology_required, spec.topology_preferred)
        if not levels:
            return self.plain.place(snap, job, admission)
        cap = snap.capacity
        topo = snap.cohort(job.cohort).topology
        by_type = cap.by_cohort_type.get(job.cohort, {})
        quota_reason: Reason | None = None
        short: Reason | None = None
        any_usable = False
        for t in spec.gpu_types:
            groups = by_type.get(t)
            if not groups:
                continue
            any_usable = any_usable or any(cap.groups[g].usable_gpus for g in groups)
            why = admission.check(snap, job, t)
            if why is not None:
                quota_reason = quota_reason or why
                continue
            for level in levels:
                got = self.best_domain(cap, topo, groups, level, spec.gpus)
                if got is not None:
                    return got
            short = short or _shortage(cap, groups, spec.gpus)
        if quota_reason is not None:
            return quota_reason
        if not any_usable:
            return Reason.NO_GPU_TYPE
        return short or Reason.CAPACITY

    def best_domain(
        self, cap: CapacityIndex, topo: NodeTopology, groups: list[int], level: str, gpus: int
    ) -> Placement | None:
        """The chosen domain of ``level`` over ``groups`` (consolidate or spread), or None."""
        ids = topo.of(level)
        best: Placement | None = None
        best_key: _Key | None = None
        for order, gi in enumerate(groups):
            g = cap.groups[gi]
            if g.free_total < gpus:
                continue
            for dom, free, slots in _candidates(cap, g, ids, gpus):
                key = (self.sign * free, cap.leftover(slots), order, dom)
                if best_key is None or key < best_key:
                    best, best_key = Placement(gi, slots), key
        return best


def _candidates(
    cap: CapacityIndex, g: Group, ids: list[int] | None, gpus: int
) -> list[tuple[int, int, Slots]]:
    """(domain id, its free GPUs, slots) for every domain of the group the gang fits."""
    if ids is None:  # site: the whole group, via the buckets
        slots = cap.fit(g.index, gpus)
        return [] if slots is None else [(0, g.free_total, slots)]
    out = []
    for dom, nodes in domains_of(cap, g, ids).items():
        free = sum(f for _, f in nodes)
        if free < gpus:
            continue
        slots = fit_nodes(nodes, gpus, g.max_gpus)
        if slots is not None:
            out.append((dom, free, slots))
    return out


def _shortage(cap: CapacityIndex, groups: list[int], gpus: int) -> Reason:
    if any(cap.fit(gi, gpus) is not None for gi in groups):
        return Reason.NO_TOPOLOGY_DOMAIN
    free = sum(cap.groups[gi].free_total for gi in groups)
    return Reason.FRAGMENTED if free >= gpus else Reason.CAPACITY


class FifoTopology(StrictFifo):
    """Strict FIFO (as ``fifo``) whose placement honours jobs' topology constraints
    (:class:`TopologyAware`); ``domain_choice`` is ``consolidate`` (Kueue's BestFit:
    the tightest domain that fits) or ``spread`` (the emptiest)."""

    name: ClassVar[str] = "fifo-topology"
    summary: ClassVar[str] = "strict FIFO with topology-aware gang placement (Kueue TAS)"
    options: ClassVar[Options] = {"domain_choice": one_of(*DOMAIN_CHOICES)}

    def __init__(self, domain_choice: str = "consolidate") -> None:
        super().__init__()
        self.placement = TopologyAware(domain_choice)
