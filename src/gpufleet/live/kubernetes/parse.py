"""Kubernetes and Kueue objects from ``kubectl get ... -o json`` (a ``List`` with
``items``), field by field, every surprise a SourceError naming the command and the path.

Field names are the APIs': core/v1 Node (``status.capacity``, ``status.allocatable``,
``status.conditions``, ``spec.unschedulable``, ``metadata.labels``), core/v1 Pod
(``spec.nodeName``, ``spec.containers[].resources.requests|limits``,
``spec.initContainers``, ``status.phase``, ``status.conditions``), Kueue v1beta1
ClusterQueue (``spec.cohort``, ``spec.resourceGroups[].flavors[].resources[].nominalQuota
|borrowingLimit|lendingLimit``, ``status.pendingWorkloads|admittedWorkloads``), LocalQueue
(``spec.clusterQueue``) and Workload (``spec.queueName``, ``spec.podSets[].count|template``,
``status.admission.clusterQueue``, ``status.admission.podSetAssignments[].flavors
|resourceUsage``, ``status.conditions``).
"""

from __future__ import annotations

import re
from datetime import datetime
from fractions import Fraction

from gpufleet.live.jsonread import At
from gpufleet.live.kubernetes.model import (
    GPU_PRODUCT_LABEL,
    GPU_RESOURCE,
    QUEUE_NAME_LABEL,
    ClusterQueue,
    FlavorQuota,
    KubeNode,
    KubePod,
    LocalQueue,
    PodPhase,
    Workload,
    WorkloadCondition,
)

_QUANTITY = re.compile(r"^([+-]?[0-9.]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SCALE = {
    None: Fraction(1), "m": Fraction(1, 1000), "k": Fraction(10**3), "M": Fraction(10**6),
    "G": Fraction(10**9), "T": Fraction(10**12), "P": Fraction(10**15),
    "E": Fraction(10**18), "Ki": Fraction(2**10), "Mi": Fraction(2**20),
    "Gi": Fraction(2**30), "Ti": Fraction(2**40), "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}  # fmt: skip


def gpu_quantity(at: At) -> int:
    """A Kubernetes quantity (``8``, ``"8"``, ``"1k"``) of GPUs: a whole, non-negative
    number (an extended resource cannot be fractional)."""
    value = at.value
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise at.fail(f"is {value!r}", 'a quantity such as 8 or "8"')
    match = _QUANTITY.match(str(value))
    if match is None:
        raise at.fail(f"is {value!r}", 'a Kubernetes quantity such as "8"')
    amount = Fraction(match.group(1)) * _SCALE[match.group(2)]
    if amount < 0 or amount.denominator != 1:
        raise at.fail(f"is {value!r}", "a whole number of GPUs, 0 or more")
    return int(amount)


def items(root: At, kind: str) -> list[At]:
    """The ``items`` of a List answer, each checked to be of ``kind``."""
    listed = root.key("items").items()
    for item in listed:
        said = item.opt_text("kind")
        if said and said != kind:
            raise item.key("kind").fail(f"is {said!r}", repr(kind))
    return listed


def _gpus_of(resources: At | None) -> int | None:
    if resources is None or not resources.has(GPU_RESOURCE):
        return None
    return gpu_quantity(resources.key(GPU_RESOURCE))


def _time(at: At | None) -> datetime | None:
    if at is None:
        return None
    text = at.text()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise at.fail(f"is {text!r}", "an RFC 3339 time such as 2026-12-06T18:00:00Z") from None


def _labels(meta: At) -> dict[str, str]:
    labels = meta.opt("labels")
    if labels is None:
        return {}
    found = labels.value
    if not isinstance(found, dict) or not all(isinstance(v, str) for v in found.values()):
        raise labels.fail("is not an object of strings", "labels as name: value")
    return found


# --- nodes -----------------------------------------------------------------------------


def parse_nodes(root: At) -> tuple[KubeNode, ...]:
    return tuple(_node(n) for n in items(root, "Node"))


def _node(n: At) -> KubeNode:
    status = n.key("status")
    spec = n.opt("spec")
    flag = spec.opt("unschedulable") if spec is not None else None
    if flag is not None and not isinstance(flag.value, bool):
        raise flag.fail(f"is {flag.value!r}", "true or false")
    cordoned = flag is not None and flag.value is True
    ready, why = _ready(status)
    reason = why if not ready else ("cordoned (spec.unschedulable)" if cordoned else "")
    return KubeNode(
        name=n.key("metadata").key("name").text(),
        gpu_product=_labels(n.key("metadata")).get(GPU_PRODUCT_LABEL, ""),
        gpu_capacity=_gpus_of(status.opt("capacity")) or 0,
        gpu_allocatable=_gpus_of(status.opt("allocatable")) or 0,
        ready=ready,
        unschedulable=cordoned,
        reason=reason,
    )


def _ready(status: At) -> tuple[bool, str]:
    """The Ready condition: (True, "") or (False, "reason: message"); none is not ready."""
    conditions = status.opt("conditions")
    for cond in conditions.items() if conditions else []:
        if cond.key("type").text() == "Ready":
            ok = cond.key("status").text() == "True"
            said = ": ".join(t for t in (cond.opt_text("reason"), cond.opt_text("message")) if t)
            return ok, "" if ok else said or "NotReady"
    return False, "no Ready condition"


# --- pods ------------------------------------------------------------------------------


def parse_pods(root: At) -> tuple[KubePod, ...]:
    return tuple(_pod(p) for p in items(root, "Pod"))


def _pod(p: At) -> KubePod:
    meta, spec, status = p.key("metadata"), p.key("spec"), p.key("status")
    phase_at = status.key("phase")
    known = {ph.value: ph for ph in PodPhase}
    if phase_at.text() not in known:
        raise phase_at.fail(f"is {phase_at.value!r}", f"one of {', '.join(known)}")
    return KubePod(
        namespace=meta.key("namespace").text(),
        name=meta.key("name").text(),
        node=spec.opt_text("nodeName"),
        phase=known[phase_at.text()],
        gpus=pod_gpus(spec),
        queue_name=_labels(meta).get(QUEUE_NAME_LABEL, ""),
        unschedulable_reason=_unschedulable(status),
    )


def pod_gpus(spec: At) -> int:
    """The scheduler's effective request: the larger of the containers' sum and the
    largest init container (init containers run one at a time, before the others). A
    container's request defaults to its limit (extended resources must have them equal)."""
    containers = spec.key("containers").items()
    inits = spec.opt("initContainers")
    total = sum(_container_gpus(c) for c in containers)
    largest_init = max((_container_gpus(c) for c in inits.items()), default=0) if inits else 0
    return max(total, largest_init)


def _container_gpus(c: At) -> int:
    resources = c.opt("resources")
    if resources is None:
        return 0
    request = _gpus_of(resources.opt("requests"))
    return request if request is not None else _gpus_of(resources.opt("limits")) or 0


def _unschedulable(status: At) -> str:
    conditions = status.opt("conditions")
    for cond in conditions.items() if conditions else []:
        if cond.key("type").text() == "PodScheduled" and cond.key("status").text() == "False":
            return cond.opt_text("message") or cond.opt_text("reason") or "Unschedulable"
    return ""


# --- Kueue -----------------------------------------------------------------------------


def parse_cluster_queues(root: At) -> tuple[ClusterQueue, ...]:
    return tuple(_cluster_queue(q) for q in items(root, "ClusterQueue"))


def _cluster_queue(q: At) -> ClusterQueue:
    spec = q.key("spec")
    quotas: list[FlavorQuota] = []
    for group in spec.key("resourceGroups").items():
        for flavor in group.key("flavors").items():
            name = flavor.key("name").text()
            for res in flavor.key("resources").items():
                if res.key("name").text() != GPU_RESOURCE:
                    continue  # gpufleet counts GPUs; cpu and memory quotas are not its business
                quotas.append(_flavor_quota(name, res))
    status = q.opt("status")
    return ClusterQueue(
        name=q.key("metadata").key("name").text(),
        cohort=spec.opt_text("cohort"),
        quotas=tuple(quotas),
        pending_workloads=(status.opt("pendingWorkloads") or _ZERO).whole() if status else 0,
        admitted_workloads=(status.opt("admittedWorkloads") or _ZERO).whole() if status else 0,
    )


_ZERO = At("", "", 0)


def _flavor_quota(flavor: str, res: At) -> FlavorQuota:
    borrowing, lending = res.opt("borrowingLimit"), res.opt("lendingLimit")
    return FlavorQuota(
        flavor=flavor,
        resource=res.key("name").text(),
        nominal=gpu_quantity(res.key("nominalQuota")),
        borrowing_limit=gpu_quantity(borrowing) if borrowing else None,
        lending_limit=gpu_quantity(lending) if lending else None,
    )


def parse_local_queues(root: At) -> tuple[LocalQueue, ...]:
    return tuple(
        LocalQueue(
            namespace=q.key("metadata").key("namespace").text(),
            name=q.key("metadata").key("name").text(),
            cluster_queue=q.key("spec").key("clusterQueue").text(),
        )
        for q in items(root, "LocalQueue")
    )


def parse_workloads(root: At) -> tuple[Workload, ...]:
    return tuple(_workload(w) for w in items(root, "Workload"))


def _workload(w: At) -> Workload:
    meta, spec = w.key("metadata"), w.key("spec")
    status = w.opt("status")
    admission = status.opt("admission") if status else None
    flavors: list[str] = []
    if admission is not None:
        for assignment in admission.key("podSetAssignments").items():
            assigned = assignment.opt("flavors")
            if assigned is not None and assigned.has(GPU_RESOURCE):
                flavors.append(assigned.key(GPU_RESOURCE).text())
    conditions = status.opt("conditions") if status else None
    return Workload(
        namespace=meta.key("namespace").text(),
        name=meta.key("name").text(),
        queue_name=spec.opt_text("queueName"),
        created=_time(meta.opt("creationTimestamp")),
        gpus=sum(_pod_set_gpus(ps) for ps in spec.key("podSets").items()),
        cluster_queue=admission.key("clusterQueue").text() if admission else "",
        flavors=tuple(flavors),
        conditions=tuple(_condition(c) for c in conditions.items()) if conditions else (),
    )


def _pod_set_gpus(ps: At) -> int:
    count = ps.key("count").whole()
    if count < 0:
        raise ps.key("count").fail(f"is {count}", "0 or more pods")
    return count * pod_gpus(ps.key("template").key("spec"))


def _condition(c: At) -> WorkloadCondition:
    status = c.key("status").text()
    if status not in ("True", "False", "Unknown"):
        raise c.key("status").fail(f"is {status!r}", "True, False or Unknown")
    return WorkloadCondition(
        type=c.key("type").text(),
        status=status == "True",
        reason=c.opt_text("reason"),
        message=c.opt_text("message"),
        since=_time(c.opt("lastTransitionTime")),
    )
