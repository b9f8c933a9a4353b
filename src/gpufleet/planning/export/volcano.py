"""Volcano (scheduling.volcano.sh/v1beta1 Queue), for the capacity plugin with hierarchical
queues: every quota field has a place.

- a parent Queue per cohort (child of Volcano's ``root``): ``deserved`` = ``capability`` =
  the cohort's total nominal quota of ``nvidia.com/gpu``, ``guarantee`` = the sum of its
  programs' guaranteed parts;
- a leaf Queue per program and GPU type (see :mod:`gpufleet.planning.export.queues`):
  ``deserved`` = nominal (others may use it while idle; it is reclaimed), ``guarantee`` =
  nominal - lendable (reserved, never lent: the lending limit), ``capability`` = the most
  the program can hold of that type (nominal + borrowing limit, capped by what the cohort
  can lend), ``reclaimable: true`` (what it holds above ``deserved`` can be reclaimed),
  ``weight`` = 100 x the program's weight (Volcano weights are integers >= 1, used by the
  proportion plugin), ``priority`` = the program's priority.

Not mapped: the GPU type (jobs select their nodes).

Field names and types: config/crd/volcano/bases/scheduling.volcano.sh_queues.yaml in
volcano-sh/volcano (v1beta1: weight int32, capability/deserved ResourceLists,
guarantee.resource, parent, priority int32, reclaimable), https://volcano.sh/en/docs/queue/
and the queue resource management / hierarchical queue pages of volcano.sh.
"""

from __future__ import annotations

from typing import Any

from gpufleet.planning.allocation import Allocation
from gpufleet.planning.export.model import (
    ANN_COHORT,
    ANN_GPU_TYPE,
    ANN_PROGRAM,
    GPU_RESOURCE,
    MANAGED_BY,
    ExportFile,
    GpuLimits,
    QueueView,
    Target,
    View,
    dump_yaml,
    guarded,
    header,
    k8s_name,
    parse_quantity,
    share,
    sorted_gpus,
    weight_of_share,
)
from gpufleet.planning.export.queues import Leaf, Parent, program_queues, tree, tree_documents

API = "scheduling.volcano.sh/v1beta1"
FILE = "volcano-queues.yaml"
ROOT = "root"


def _tree(alloc: Allocation) -> tuple[list[Parent], list[Leaf]]:
    return tree(alloc, "volcano", lambda p, t: k8s_name(f"{p}-{t}"), k8s_name)


def view(alloc: Allocation) -> View:
    """Programs with a quota: nominal, ceiling and lendable part per GPU type, weight to a
    hundredth, priority."""
    gpus: dict[str, dict[str, GpuLimits]] = {}
    out: View = {}
    for leaf in _tree(alloc)[1]:
        p, q = leaf.program, leaf.quota
        mine = gpus.setdefault(p.name, {})
        mine[leaf.gpu_type] = GpuLimits(q.nominal_gpus, leaf.ceiling_gpus, q.lendable_gpus)
        weight = weight_of_share(share(p.weight))
        out[p.name] = QueueView(p.name, leaf.cohort.name, weight, p.priority, sorted_gpus(mine))
    return out


def _queue(name: str, ann: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    meta = {"name": name, "labels": dict(MANAGED_BY), "annotations": ann}
    return {"apiVersion": API, "kind": "Queue", "metadata": meta, "spec": spec}


def _gpus(n: int) -> dict[str, int]:
    return {GPU_RESOURCE: n}


def _parent(p: Parent) -> dict[str, Any]:
    spec = {
        "parent": ROOT,
        "deserved": _gpus(p.nominal_gpus),
        "guarantee": {"resource": _gpus(p.guaranteed_gpus)},
        "capability": _gpus(p.nominal_gpus),
    }
    return _queue(p.name, {ANN_COHORT: p.cohort.name}, spec)


def _leaf(leaf: Leaf, parent: str) -> dict[str, Any]:
    p, q = leaf.program, leaf.quota
    spec = {
        "parent": parent,
        "weight": share(p.weight),
        "priority": p.priority,
        "reclaimable": True,
        "deserved": _gpus(q.nominal_gpus),
        "guarantee": {"resource": _gpus(q.guaranteed_gpus)},
        "capability": _gpus(leaf.ceiling_gpus),
    }
    ann = {ANN_PROGRAM: p.name, ANN_GPU_TYPE: leaf.gpu_type, ANN_COHORT: leaf.cohort.name}
    return _queue(leaf.name, ann, spec)


def write(alloc: Allocation) -> ExportFile:
    docs = tree_documents(*_tree(alloc), _parent, _leaf)
    notes = [
        "",
        "Apply with: kubectl apply -f volcano-queues.yaml, with the capacity plugin and",
        "hierarchical queues enabled in the scheduler's configuration. A program's jobs go to",
        "the leaf queue of the GPU type they run on (spec.queue of a Volcano Job or PodGroup)",
        "and select those nodes themselves (nodeSelector nvidia.com/gpu.product).",
    ]
    return ExportFile(FILE, header(alloc, "Volcano", notes) + dump_yaml(docs))


@guarded("volcano")
def read(text: str) -> View:
    """The leaf Queues (those naming a program) back into programs."""
    gpus: dict[str, dict[str, GpuLimits]] = {}
    out: View = {}
    for ann, spec in program_queues(text, "volcano"):
        nominal = int(parse_quantity(spec["deserved"][GPU_RESOURCE]))
        guaranteed = int(parse_quantity(spec["guarantee"]["resource"][GPU_RESOURCE]))
        cap = spec.get("capability", {}).get(GPU_RESOURCE)
        limits = GpuLimits(
            nominal, None if cap is None else int(parse_quantity(cap)), nominal - guaranteed
        )
        mine = gpus.setdefault(ann[ANN_PROGRAM], {})
        mine[ann[ANN_GPU_TYPE]] = limits
        out[ann[ANN_PROGRAM]] = QueueView(
            ann[ANN_PROGRAM],
            ann[ANN_COHORT],
            weight_of_share(int(spec["weight"])),
            int(spec["priority"]),
            sorted_gpus(mine),
        )
    return out


TARGET = Target(
    "volcano",
    "Volcano Queues: a parent per cohort, a leaf per program and GPU type",
    view,
    write,
    read,
)
