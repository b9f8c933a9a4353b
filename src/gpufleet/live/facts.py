"""The schedulers' outputs reduced to the few facts an observation counts, placed by the
mapping file: GPUs per node with their state, GPUs held by running work, GPUs asked by
waiting work. Slurm and Kubernetes/Kueue each reduce to the same facts, so the
observation counts them one way."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gpufleet.domain import GpuTypeName, Reason
from gpufleet.live.kubernetes import (
    ClusterQueue,
    KubeNode,
    KubePod,
    LocalQueue,
    PodPhase,
    Workload,
)
from gpufleet.live.mapping import ClusterMapping, Place, Program
from gpufleet.live.observation import QuotaInForce, SourceFailure, Unmapped
from gpufleet.live.reasons import kueue_reason, pod_reason, slurm_reason
from gpufleet.live.slurm import Association, JobState, NodeState, SlurmJob, SlurmNode

UP, DOWN, DRAINED = "up", "down", "drained"


@dataclass(frozen=True)
class NodeGpus:
    """The GPUs of one type on one node, where the register has them, and their state."""

    scheduler: str
    node: str
    partitions: tuple[str, ...]
    place: Place
    gpu_type: GpuTypeName
    gpus: int
    state: str  # UP, DOWN or DRAINED
    reason: str


@dataclass(frozen=True)
class Held:
    """GPUs of one node held by one running job or pod."""

    scheduler: str
    node: str
    gpu_type: GpuTypeName | None  # None: the job names none; the node's type then
    program: Program | None
    gpus: int
    indices: tuple[int, ...] | None  # device indices (Slurm); None where unknown
    pod: tuple[str, str] | None  # (namespace, pod) for telemetry by pod labels


@dataclass(frozen=True)
class Waiting:
    scheduler: str
    job: str
    program: Program | None
    gpu_type: GpuTypeName | None
    partition: str
    gpus: int
    scheduler_reason: str
    reason: Reason | None


@dataclass(frozen=True)
class SchedulerFacts:
    nodes: tuple[NodeGpus, ...]
    held: tuple[Held, ...]
    waiting: tuple[Waiting, ...]
    unmapped: tuple[Unmapped, ...]
    listed: frozenset[str]  # every node the scheduler lists, placed or not
    quotas: tuple[QuotaInForce, ...] = ()


@dataclass(frozen=True)
class SlurmState:
    jobs: tuple[SlurmJob, ...]
    nodes: tuple[SlurmNode, ...]
    associations: tuple[Association, ...] = ()  # () where not read (slurmrestd)
    failures: tuple[SourceFailure, ...] = ()  # read, but a part not (a job's GPU indices)


@dataclass(frozen=True)
class KubernetesState:
    nodes: tuple[KubeNode, ...]
    pods: tuple[KubePod, ...]
    cluster_queues: tuple[ClusterQueue, ...]
    local_queues: tuple[LocalQueue, ...]
    workloads: tuple[Workload, ...]


class _Unmapped:
    """Collects unmapped names once each, with the GPUs they carried."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: dict[tuple[str, str], int] = {}

    def add(self, kind: str, name: str, gpus: int) -> None:
        self.found[(kind, name)] = self.found.get((kind, name), 0) + gpus

    def all(self) -> tuple[Unmapped, ...]:
        return tuple(Unmapped(k, n, self.source, g) for (k, n), g in self.found.items())


# --- Slurm -----------------------------------------------------------------------------


def slurm_facts(state: SlurmState, mapping: ClusterMapping) -> SchedulerFacts:
    unmapped = _Unmapped("slurm")
    nodes = tuple(_slurm_nodes(state.nodes, mapping, unmapped))
    held: list[Held] = []
    waiting: list[Waiting] = []
    for job in state.jobs:
        if job.gpus <= 0 or not (job.state.holds_gpus or job.state is JobState.PENDING):
            continue  # squeue also lists jobs finished within MinJobAge
        program = mapping.account(job.account)
        if program is None:
            unmapped.add("account", job.account, job.gpus)
        gpu_type = _gpu_type(mapping, job.gpu_type, unmapped, job.gpus)
        if job.state.holds_gpus:
            held += _slurm_held(job, program, gpu_type)
        elif job.state is JobState.PENDING:
            waiting.append(
                Waiting(
                    "slurm",
                    str(job.job_id),
                    program,
                    gpu_type,
                    job.partition,
                    job.gpus,
                    job.reason,
                    slurm_reason(job.reason),
                )
            )
    listed = frozenset(n.name for n in state.nodes)
    quotas = _slurm_quotas(state.associations, mapping, unmapped)
    return SchedulerFacts(nodes, tuple(held), tuple(waiting), unmapped.all(), listed, quotas)


def _slurm_quotas(
    associations: Iterable[Association], mapping: ClusterMapping, unmapped: _Unmapped
) -> tuple[QuotaInForce, ...]:
    """Each mapped account's own association (no user, no partition): its GrpTRES caps on
    GPUs, all types (``gres/gpu``) or one (``gres/gpu:h100``); no cap is a row too."""
    out: list[QuotaInForce] = []
    for a in associations:
        program = mapping.account(a.account)
        if a.user or a.partition or program is None:
            continue  # users share their account's cap; unmapped accounts: root and such
        caps = [t for t in a.grp_tres if t.tres == "gres/gpu" or t.tres.startswith("gres/gpu:")]
        scope = f"account {a.account}"
        for cap in caps:
            kind = cap.tres.partition(":")[2] or None
            gpu_type = _gpu_type(mapping, kind, unmapped, cap.count) if kind else None
            out.append(
                QuotaInForce("slurm", scope, program.entity, program.program, gpu_type, cap.count)
            )
        if not caps:
            out.append(QuotaInForce("slurm", scope, program.entity, program.program, None, None))
    return tuple(out)


def _slurm_nodes(
    nodes: Iterable[SlurmNode], mapping: ClusterMapping, unmapped: _Unmapped
) -> Iterable[NodeGpus]:
    for node in nodes:
        if node.gpu_total == 0:
            continue
        place = mapping.slurm_place(node.name, node.partitions)
        if place is None:
            unmapped.add("node", node.name, node.gpu_total)
            continue
        state = _slurm_state(node)
        reason = node.reason or ("" if state == UP else node.state.value)
        for count in node.gpus:
            gpu_type = _gpu_type(mapping, count.gpu_type, unmapped, count.count)
            if gpu_type is not None:
                yield NodeGpus(
                    "slurm", node.name, node.partitions, place, gpu_type, count.count, state, reason
                )


def _slurm_state(node: SlurmNode) -> str:
    if node.usable:
        return UP
    drain = {"DRAIN", "DRAINED", "DRAINING"} & set(node.flags)
    return DRAINED if drain and node.state is not NodeState.DOWN else DOWN


def _slurm_held(job: SlurmJob, program: Program | None, gpu_type: GpuTypeName | None) -> list[Held]:
    if job.allocations:
        return [
            Held("slurm", a.node, gpu_type, program, len(a.indices), a.indices, None)
            for a in job.allocations
        ]
    # no GRES detail (a version without it): the GPUs shared over the job's nodes
    share, extra = divmod(job.gpus, max(1, len(job.nodes)))
    return [
        Held("slurm", node, gpu_type, program, share + (1 if i < extra else 0), None, None)
        for i, node in enumerate(job.nodes)
    ]


def _gpu_type(
    mapping: ClusterMapping, name: str | None, unmapped: _Unmapped, gpus: int
) -> GpuTypeName | None:
    if name is None:
        return None
    found = mapping.gpu_type(name)
    if found is None:
        unmapped.add("GPU type", name, gpus)
    return found


# --- Kubernetes and Kueue --------------------------------------------------------------


def kubernetes_facts(state: KubernetesState, mapping: ClusterMapping) -> SchedulerFacts:
    unmapped = _Unmapped("kubernetes")
    nodes = tuple(_kube_nodes(state.nodes, mapping, unmapped))
    queue_of = {(q.namespace, q.name): q.cluster_queue for q in state.local_queues}
    held: list[Held] = []
    waiting: list[Waiting] = []
    for pod in state.pods:
        if pod.gpus <= 0 or pod.phase in (PodPhase.SUCCEEDED, PodPhase.FAILED):
            continue
        program = _kube_program(
            mapping, pod.namespace, queue_of.get((pod.namespace, pod.queue_name), "")
        )
        if program is None:
            unmapped.add("namespace", pod.namespace, pod.gpus)
        if pod.holds_gpus:
            held.append(
                Held(
                    "kubernetes", pod.node, None, program, pod.gpus, None, (pod.namespace, pod.name)
                )
            )
        elif pod.unschedulable_reason:
            message = pod.unschedulable_reason
            waiting.append(
                Waiting(
                    "kubernetes",
                    f"pod {pod.namespace}/{pod.name}",
                    program,
                    None,
                    "",
                    pod.gpus,
                    message,
                    pod_reason(message),
                )
            )
    queues = {q.name: q for q in state.cluster_queues}
    for load in state.workloads:
        if load.pending and load.gpus > 0:
            cq = queue_of.get((load.namespace, load.queue_name), "")
            waiting.append(_kueue_waiting(load, cq, queues.get(cq), mapping, unmapped))
    listed = frozenset(n.name for n in state.nodes)
    quotas = tuple(_kueue_quotas(state.cluster_queues, mapping, unmapped))
    return SchedulerFacts(nodes, tuple(held), tuple(waiting), unmapped.all(), listed, quotas)


def _kueue_quotas(
    queues: Iterable[ClusterQueue], mapping: ClusterMapping, unmapped: _Unmapped
) -> Iterable[QuotaInForce]:
    for q in queues:
        program = mapping.cluster_queue(q.name)
        for quota in q.quotas:
            gpu_type = _gpu_type(mapping, quota.flavor, unmapped, quota.nominal)
            yield QuotaInForce(
                "kubernetes",
                f"ClusterQueue {q.name} flavor {quota.flavor}",
                program.entity if program else None,
                program.program if program else None,
                gpu_type,
                quota.nominal,
                quota.borrowing_limit,
            )


def _kube_nodes(
    nodes: Iterable[KubeNode], mapping: ClusterMapping, unmapped: _Unmapped
) -> Iterable[NodeGpus]:
    for node in nodes:
        if node.gpu_capacity == 0:
            continue
        place = mapping.kubernetes_place(node.name)
        gpu_type = _gpu_type(mapping, node.gpu_product or None, unmapped, node.gpu_capacity)
        if place is None or gpu_type is None:
            if place is None:
                unmapped.add("node", node.name, node.gpu_capacity)
            continue
        state = UP if node.usable else (DOWN if not node.ready else DRAINED)
        yield NodeGpus(
            "kubernetes", node.name, (), place, gpu_type, node.gpu_allocatable, state, node.reason
        )
        lost = node.gpu_capacity - node.gpu_allocatable
        if lost > 0:  # the device plugin withholds GPUs it finds unhealthy
            why = f"{lost} of {node.gpu_capacity} GPUs not allocatable (unhealthy)"
            yield NodeGpus("kubernetes", node.name, (), place, gpu_type, lost, DOWN, why)


def _kube_program(mapping: ClusterMapping, namespace: str, cluster_queue: str) -> Program | None:
    """A namespace's program, else its queue's ClusterQueue's."""
    return mapping.namespace(namespace) or (
        mapping.cluster_queue(cluster_queue) if cluster_queue else None
    )


def _kueue_waiting(
    load: Workload,
    cluster_queue: str,
    queue: ClusterQueue | None,
    mapping: ClusterMapping,
    unmapped: _Unmapped,
) -> Waiting:
    program = mapping.cluster_queue(cluster_queue) if cluster_queue else None
    program = program or mapping.namespace(load.namespace)
    if program is None:
        unmapped.add("namespace", load.namespace, load.gpus)
    # a pending workload has no flavor yet: its ClusterQueue's, where it has only one
    flavors = sorted(queue.gpu_quota()) if queue is not None else []
    gpu_type = _gpu_type(mapping, flavors[0], unmapped, load.gpus) if len(flavors) == 1 else None
    reason, message = load.pending_reason
    evicted = load.condition("Evicted")
    preempted = evicted is not None and evicted.status and evicted.reason == "Preempted"
    said = message or reason or ("preempted" if preempted else "pending")
    return Waiting(
        "kubernetes",
        f"workload {load.namespace}/{load.name}",
        program,
        gpu_type,
        cluster_queue,
        load.gpus,
        said,
        kueue_reason(reason, message, preempted),
    )
