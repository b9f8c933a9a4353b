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
  WorkloadPriorityClass whose value is the program's default job priority;
- with a declared cohort tree (the scenario's ``cohorts:``), a Cohort object per declared
  cohort, parents first: ``spec.parentName`` = its parent (none on a root); one resource
  group covering ``nvidia.com/gpu`` with a flavor per GPU type of its own quota:
  ``nominalQuota``, ``borrowingLimit`` and ``lendingLimit`` as given (Kueue's Cohort webhook,
  unlike the ClusterQueue's, lets lendingLimit exceed nominalQuota: a cohort's limit bounds
  its whole subtree); ``fairSharing.weight`` = its weight. Each ClusterQueue's
  ``spec.cohort`` is then the cohort its program joins (the program's own ``cohort``, else
  its entity's). A flat cohort gets no Cohort object (Kueue makes one implicitly), exactly
  as before trees existed.

Field names and types: the CRDs in kubernetes-sigs/kueue config/components/crd/bases
(clusterqueues, resourceflavors, localqueues, workloadpriorityclasses, cohorts) and the
concept pages https://kueue.sigs.k8s.io/docs/concepts/cluster_queue/, .../resource_flavor/
and .../cohort/. The Cohort kind is ``kueue.x-k8s.io/v1beta1`` from Kueue v0.13 (PR 5595
promoted it from v1alpha1 and renamed ``spec.parent`` to ``spec.parentName``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gpufleet.domain.org import Cohort, Quota
from gpufleet.errors import InputError
from gpufleet.planning.allocation import Allocation, CohortAllocation, ProgramAllocation
from gpufleet.planning.export.model import (
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


@dataclass(frozen=True)
class CohortView:
    """A declared cohort as its Kueue Cohort object states it: parent (None on a root),
    fair-sharing weight and its own quota per GPU type, sorted by type name (the three
    numbers exactly as given)."""

    name: str
    parent: str | None
    weight: float
    quotas: tuple[tuple[str, Quota], ...]


CohortsView = dict[str, CohortView]


def joins(c: CohortAllocation) -> dict[str, str]:
    """Program -> the cohort its ClusterQueue joins: in a declared tree its own cohort or
    its entity's (the tree's members; the root for any other), else the flat cohort."""
    members = {str(p): str(k) for p, k in c.tree.members} if c.tree is not None else {}
    return {p.name: members.get(p.name, c.name) for p in c.programs}


def view(alloc: Allocation) -> View:
    """Every program with all of its quota, under the cohort it joins: nothing is lost."""
    out: View = {}
    for c in alloc.cohorts:
        parent = joins(c)
        for p in c.programs:
            gpus: dict[str, GpuLimits] = {}
            for t, q in p.quotas:
                borrow = q.borrowing_limit_gpus
                most = None if borrow is None else q.nominal_gpus + borrow
                gpus[t] = GpuLimits(q.nominal_gpus, most, q.lendable_gpus)
            out[p.name] = QueueView(p.name, parent[p.name], p.weight, p.priority, sorted_gpus(gpus))
    return out


def declared(alloc: Allocation) -> list[Cohort]:
    """The declared cohorts of every tree, each after its parent (empty when flat)."""
    return [k for c in alloc.cohorts if c.tree is not None for k in c.tree.cohorts]


def cohort_view(alloc: Allocation) -> CohortsView:
    """Every declared cohort of a tree with its parent, weight and quotas: nothing is lost."""
    return {
        k.name: CohortView(k.name, k.parent, k.weight, tuple(sorted(k.quotas)))
        for k in declared(alloc)
    }


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


def _gpu_group(resources: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One resource group covering whole GPUs, a flavor per (flavor name, resource)."""
    return [
        {
            "coveredResources": [GPU_RESOURCE],
            "flavors": [{"name": f, "resources": [r]} for f, r in resources],
        }
    ]


def _cohort(k: Cohort, flavors: dict[str, str], cohorts: dict[str, str]) -> dict[str, Any]:
    """A declared cohort as a Kueue Cohort object (limits as given: see the docstring)."""
    spec: dict[str, Any] = {}
    if k.parent is not None:
        spec["parentName"] = cohorts[k.parent]
    if k.quotas:
        spec["resourceGroups"] = _gpu_group([(flavors[t], _limits_of(q)) for t, q in k.quotas])
    spec["fairSharing"] = {"weight": quantity(k.weight)}
    meta = _meta(cohorts[k.name], {ANN_COHORT: k.name})
    return {"apiVersion": API, "kind": "Cohort", "metadata": meta, "spec": spec}


def _limits_of(q: Quota) -> dict[str, Any]:
    r: dict[str, Any] = {"name": GPU_RESOURCE, "nominalQuota": q.nominal_gpus}
    if q.borrowing_limit_gpus is not None:
        r["borrowingLimit"] = q.borrowing_limit_gpus
    if q.lending_limit_gpus is not None:
        r["lendingLimit"] = q.lending_limit_gpus
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
        spec["resourceGroups"] = _gpu_group([(flavors[t], _resource(p, t)) for t, _ in p.quotas])
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
    tree = declared(alloc)
    types = list(
        dict.fromkeys(
            [
                *(t for p in alloc.programs() for t, _ in p.quotas),
                *(t for k in tree for t, _ in k.quotas),
            ]
        )
    )
    flavors = distinct({t: k8s_name(t) for t in types}, "GPU types", "kueue")
    names = distinct({p.name: k8s_name(p.name) for p in alloc.programs()}, "programs", "kueue")
    cohort_names = [*(c.name for c in alloc.cohorts), *(k.name for k in tree)]
    cohorts = distinct({c: k8s_name(c) for c in cohort_names}, "cohorts", "kueue")
    docs = [_flavor(t, flavors[t]) for t in types]
    docs.extend(_cohort(k, flavors, cohorts) for k in tree)
    for c in alloc.cohorts:
        parent = joins(c)
        for p in c.programs:
            docs.extend(_program_docs(p, parent[p.name], names[p.name], flavors, cohorts))
    notes = [
        "",
        "Apply with: kubectl apply --server-side -f kueue.yaml (Kueue with the v1beta1 API).",
        "Submit a program's jobs in its namespace with the label",
        "kueue.x-k8s.io/queue-name=<program>; kueue.x-k8s.io/priority-class=<program> gives",
        "them the program's default priority. Fair sharing weights apply when fair sharing",
        "is enabled in Kueue's configuration.",
    ]
    if tree:
        notes += [
            "The Cohort objects (a cohort tree) need Kueue v0.13 or later (Cohort v1beta1,",
            "spec.parentName).",
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


def _by_kind(text: str) -> dict[str, list[dict[str, Any]]]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for d in load_yaml(text, "kueue"):
        by_kind.setdefault(str(d.get("kind")), []).append(d)
    return by_kind


def _gpu_types(by_kind: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Flavor name -> GPU type, from the ResourceFlavors' annotations."""
    return {
        _field(f, "metadata", "name"): _field(f, "metadata", "annotations", ANN_GPU_TYPE)
        for f in by_kind.get("ResourceFlavor", [])
    }


def _gpu_resources(spec: dict[str, Any], gpu_type: dict[str, str]) -> list[tuple[str, Any]]:
    """(GPU type, resource entry) of every whole-GPU resource in ``spec.resourceGroups``."""
    return [
        (gpu_type[flavor["name"]], r)
        for group in spec.get("resourceGroups", [])
        for flavor in group["flavors"]
        for r in flavor["resources"]
        if r["name"] == GPU_RESOURCE
    ]


def _optional(r: dict[str, Any], key: str) -> int | None:
    v = r.get(key)
    return None if v is None else int(parse_quantity(v))


@guarded("kueue")
def read_cohorts(text: str) -> CohortsView:
    """The Cohort objects of a Kueue export back into declared cohorts (none: flat)."""
    by_kind = _by_kind(text)
    gpu_type = _gpu_types(by_kind)
    objects = by_kind.get("Cohort", [])
    ours = {
        _field(k, "metadata", "name"): _field(k, "metadata", "annotations", ANN_COHORT)
        for k in objects
    }
    out: CohortsView = {}
    for k in objects:
        name = _field(k, "metadata", "annotations", ANN_COHORT)
        spec = k.get("spec", {})
        parent = spec.get("parentName")
        quotas = {
            t: Quota(
                int(parse_quantity(r["nominalQuota"])),
                _optional(r, "borrowingLimit"),
                _optional(r, "lendingLimit"),
            )
            for t, r in _gpu_resources(spec, gpu_type)
        }
        out[name] = CohortView(
            name,
            None if parent is None else ours.get(parent, parent),
            parse_quantity(_field(k, "spec", "fairSharing", "weight")),
            tuple(sorted(quotas.items())),
        )
    return out


@guarded("kueue")
def read(text: str) -> View:
    """The ClusterQueues of a Kueue export back into programs, GPU types found through the
    ResourceFlavors and priorities through the WorkloadPriorityClasses."""
    by_kind = _by_kind(text)
    gpu_type = _gpu_types(by_kind)
    priority = {
        _field(w, "metadata", "annotations", ANN_PROGRAM): int(_field(w, "value"))
        for w in by_kind.get("WorkloadPriorityClass", [])
    }
    out: View = {}
    for cq in by_kind.get("ClusterQueue", []):
        program = _field(cq, "metadata", "annotations", ANN_PROGRAM)
        gpus = {t: _limits(r) for t, r in _gpu_resources(cq["spec"], gpu_type)}
        out[program] = QueueView(
            program,
            _field(cq, "metadata", "annotations", ANN_COHORT),
            parse_quantity(_field(cq, "spec", "fairSharing", "weight")),
            priority.get(program),
            sorted_gpus(gpus),
        )
    return out


TARGET = Target("kueue", "Kueue ClusterQueues, ResourceFlavors, LocalQueues", view, write, read)
