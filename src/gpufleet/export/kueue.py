"""Kueue (kueue.x-k8s.io/v1beta1): the model gpufleet's ``quota`` policy follows, so every
quota field maps one to one.

- one ResourceFlavor per GPU type, matching nodes by ``nvidia.com/gpu.product`` (the label
  NVIDIA GPU Feature Discovery sets);
- one ClusterQueue per program: ``spec.cohort`` = its cohort; one resource group covering
  ``nvidia.com/gpu`` with a flavor per GPU type of its quota, in the program's order (Kueue
  tries flavors in that order, as gpufleet tries a job's types): ``nominalQuota`` = nominal,
  ``borrowingLimit`` = borrowing limit (absent: none), ``lendingLimit`` = the lendable part
  when it is less than nominal (Kueue requires lendingLimit <= nominalQuota);
  ``fairSharing.weight`` = weight; ``queueingStrategy: StrictFIFO`` (a program's oldest job
  blocks the rest); preemption as the ``quota`` policy does it: reclaim borrowed GPUs from any
  program of the cohort whatever the priority (``reclaimWithinCohort: Any``), never preempt
  to borrow (``borrowWithinCohort: Never``), never preempt inside one's own queue
  (``withinClusterQueue: Never``);
- per program a Namespace and a LocalQueue in it (both named after the program) and a
  WorkloadPriorityClass whose value is the program's default job priority.

Field names and types: the CRDs in kubernetes-sigs/kueue config/components/crd/bases
(clusterqueues, resourceflavors, localqueues, workloadpriorityclasses) and the concept pages
https://kueue.sigs.k8s.io/docs/concepts/cluster_queue/ and .../resource_flavor/.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpufleet.errors import InputError
from gpufleet.export.model import (
    ANN_COHORT,
    ANN_ENTITY,
    ANN_GPU_TYPE,
    ANN_PROGRAM,
    GPU_RESOURCE,
    MANAGED_BY,
    ExportFile,
    GpuLimits,
    QueueView,
    Target,
    View,
    distinct,
    dump_yaml,
    guarded,
    header,
    k8s_name,
    load_yaml,
    parse_quantity,
    quantity,
    sorted_gpus,
)
from gpufleet.plan.allocation import Allocation, ProgramAllocation

API = "kueue.x-k8s.io/v1beta1"
FILE = "kueue.yaml"
PRODUCT_LABEL = "nvidia.com/gpu.product"
# nvidia.com/gpu.product values for the built-in GPU types (GPU Feature Discovery writes the
# name nvidia-smi reports, spaces as '-'); any other type's own name is used. Check against
# `kubectl get nodes -L nvidia.com/gpu.product` before applying.
GPU_PRODUCTS = {
    "A100-80GB": "NVIDIA-A100-SXM4-80GB",
    "H100-SXM": "NVIDIA-H100-80GB-HBM3",
    "H200": "NVIDIA-H200",
    "B200": "NVIDIA-B200",
}


def view(alloc: Allocation) -> View:
    """Every program with all of its quota: nothing is lost."""
    out: View = {}
    for c in alloc.cohorts:
        for p in c.programs:
            gpus: dict[str, GpuLimits] = {}
            for t, q in p.quotas:
                borrow = q.borrowing_limit_gpus
                most = None if borrow is None else q.nominal_gpus + borrow
                gpus[t] = GpuLimits(q.nominal_gpus, most, q.lendable_gpus)
            out[p.name] = QueueView(p.name, c.name, p.weight, p.priority, sorted_gpus(gpus))
    return out


def _meta(name: str, annotations: Mapping[str, str]) -> dict[str, Any]:
    return {"name": name, "labels": dict(MANAGED_BY), "annotations": dict(annotations)}


def _flavor(gpu_type: str, flavor: str) -> dict[str, Any]:
    product = GPU_PRODUCTS.get(gpu_type, gpu_type)
    return {
        "apiVersion": API,
        "kind": "ResourceFlavor",
        "metadata": _meta(flavor, {ANN_GPU_TYPE: gpu_type}),
        "spec": {"nodeLabels": {PRODUCT_LABEL: product}},
    }


def _resource(p: ProgramAllocation, gpu_type: str) -> dict[str, Any]:
    q = p.quota(gpu_type)
    assert q is not None
    r: dict[str, Any] = {"name": GPU_RESOURCE, "nominalQuota": q.nominal_gpus}
    if q.borrowing_limit_gpus is not None:
        r["borrowingLimit"] = q.borrowing_limit_gpus
    if q.lendable_gpus < q.nominal_gpus:
        r["lendingLimit"] = q.lendable_gpus
    return r


def _cluster_queue(
    p: ProgramAllocation, cohort: str, name: str, flavors: dict[str, str], cohorts: dict[str, str]
) -> dict[str, Any]:
    ann = {ANN_PROGRAM: p.name, ANN_ENTITY: p.entity, ANN_COHORT: cohort}
    spec: dict[str, Any] = {
        "cohort": cohorts[cohort],
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}},
        "queueingStrategy": "StrictFIFO",
    }
    if p.quotas:
        spec["resourceGroups"] = [
            {
                "coveredResources": [GPU_RESOURCE],
                "flavors": [
                    {"name": flavors[t], "resources": [_resource(p, t)]} for t, _ in p.quotas
                ],
            }
        ]
    spec["preemption"] = {
        "reclaimWithinCohort": "Any",
        "borrowWithinCohort": {"policy": "Never"},
        "withinClusterQueue": "Never",
    }
    spec["fairSharing"] = {"weight": quantity(p.weight)}
    return {"apiVersion": API, "kind": "ClusterQueue", "metadata": _meta(name, ann), "spec": spec}


def _program_docs(
    p: ProgramAllocation, cohort: str, name: str, flavors: dict[str, str], cohorts: dict[str, str]
) -> list[dict[str, Any]]:
    ann = {ANN_PROGRAM: p.name}
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(name, ann)}
    local = {
        "apiVersion": API,
        "kind": "LocalQueue",
        "metadata": {**_meta(name, ann), "namespace": name},
        "spec": {"clusterQueue": name},
    }
    priority = {
        "apiVersion": API,
        "kind": "WorkloadPriorityClass",
        "metadata": _meta(name, ann),
        "value": p.priority,
        "description": f"default priority of program {p.name}'s jobs",
    }
    return [ns, _cluster_queue(p, cohort, name, flavors, cohorts), local, priority]


def write(alloc: Allocation) -> ExportFile:
    types = list(dict.fromkeys(t for p in alloc.programs() for t, _ in p.quotas))
    flavors = distinct({t: k8s_name(t) for t in types}, "GPU types", "kueue")
    names = distinct({p.name: k8s_name(p.name) for p in alloc.programs()}, "programs", "kueue")
    cohorts = distinct({c.name: k8s_name(c.name) for c in alloc.cohorts}, "cohorts", "kueue")
    docs = [_flavor(t, flavors[t]) for t in types]
    for c in alloc.cohorts:
        for p in c.programs:
            docs.extend(_program_docs(p, c.name, names[p.name], flavors, cohorts))
    notes = [
        "",
        "Apply with: kubectl apply --server-side -f kueue.yaml (Kueue with the v1beta1 API).",
        "Submit a program's jobs in its namespace with the label",
        "kueue.x-k8s.io/queue-name=<program>; kueue.x-k8s.io/priority-class=<program> gives",
        "them the program's default priority. Fair sharing weights apply when fair sharing",
        "is enabled in Kueue's configuration.",
    ]
    return ExportFile(FILE, header(alloc, "Kueue", notes) + dump_yaml(docs))


def _field(doc: dict[str, Any], *path: str) -> Any:
    cur: Any = doc
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            name = doc.get("metadata", {}).get("name", "?")
            raise InputError(f"kueue: {doc.get('kind')} {name!r}: no {'.'.join(path)}")
        cur = cur[key]
    return cur


def _limits(r: dict[str, Any]) -> GpuLimits:
    nominal = int(parse_quantity(r["nominalQuota"]))
    borrow = r.get("borrowingLimit")
    lend = r.get("lendingLimit")
    return GpuLimits(
        nominal,
        None if borrow is None else nominal + int(parse_quantity(borrow)),
        nominal if lend is None else min(nominal, int(parse_quantity(lend))),
    )


@guarded("kueue")
def read(text: str) -> View:
    """The ClusterQueues of a Kueue export back into programs, GPU types found through the
    ResourceFlavors and priorities through the WorkloadPriorityClasses."""
    docs = load_yaml(text, "kueue")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        by_kind.setdefault(str(d.get("kind")), []).append(d)
    gpu_type = {
        _field(f, "metadata", "name"): _field(f, "metadata", "annotations", ANN_GPU_TYPE)
        for f in by_kind.get("ResourceFlavor", [])
    }
    priority = {
        _field(w, "metadata", "annotations", ANN_PROGRAM): int(_field(w, "value"))
        for w in by_kind.get("WorkloadPriorityClass", [])
    }
    out: View = {}
    for cq in by_kind.get("ClusterQueue", []):
        program = _field(cq, "metadata", "annotations", ANN_PROGRAM)
        gpus: dict[str, GpuLimits] = {}
        for group in cq["spec"].get("resourceGroups", []):
            for flavor in group["flavors"]:
                for r in flavor["resources"]:
                    if r["name"] == GPU_RESOURCE:
                        gpus[gpu_type[flavor["name"]]] = _limits(r)
        out[program] = QueueView(
            program,
            _field(cq, "metadata", "annotations", ANN_COHORT),
            parse_quantity(_field(cq, "spec", "fairSharing", "weight")),
            priority.get(program),
            sorted_gpus(gpus),
        )
    return out


TARGET = Target("kueue", "Kueue ClusterQueues, ResourceFlavors, LocalQueues", view, write, read)
