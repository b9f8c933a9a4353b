"""KAI Scheduler (scheduling.run.ai/v2 Queue): a two-level queue tree.

- a parent Queue per cohort: ``gpu.quota`` = ``gpu.limit`` = the cohort's total nominal
  quota (cohorts share nothing, so the cohort holds no more than its quota);
- a leaf Queue per program and GPU type (see :mod:`gpufleet.planning.export.queues`), child of its
  cohort's queue: ``gpu.quota`` (deserved) = nominal; ``gpu.limit`` = the most the program
  can hold of that type (nominal + borrowing limit, capped by what the cohort can lend);
  ``gpu.overQuotaWeight`` = the program's weight (KAI shares what is left over quota by it);
  ``priority`` = 100 + the program's priority (KAI's default queue priority is 100);
- ``cpu`` and ``memory`` are not gpufleet's: no guarantee, no limit, weight 1 (the values
  of KAI's own default queues).

Not mapped: the lending limit (KAI has no per-queue cap on what others may use of its
unused quota) and the GPU type (KAI counts GPU units; jobs select their nodes).

Field names and types: deployments/kai-scheduler/crds/scheduling.run.ai_queues.yaml and
docs/queues/README.md in kai-scheduler/KAI-Scheduler (quota, limit -1 = no limit,
overQuotaWeight, priority default 100, parentQueue; only leaf queues take jobs).
"""

from __future__ import annotations

from typing import Any

from gpufleet.planning.allocation import Allocation
from gpufleet.planning.export.model import (
    ANN_COHORT,
    ANN_GPU_TYPE,
    ANN_PROGRAM,
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
    number,
    sorted_gpus,
)
from gpufleet.planning.export.queues import Leaf, Parent, program_queues, tree, tree_documents

API = "scheduling.run.ai/v2"
FILE = "kai-queues.yaml"
DEFAULT_PRIORITY = 100
# KAI's default queues: no guaranteed share, no limit, weight 1
UNMANAGED = {"quota": 0, "limit": -1, "overQuotaWeight": 1}


def _tree(alloc: Allocation) -> tuple[list[Parent], list[Leaf]]:
    return tree(alloc, "kai", lambda p, t: k8s_name(f"{p}-{t}"), k8s_name)


def view(alloc: Allocation) -> View:
    """Programs with a quota: nominal and ceiling per GPU type, weight and priority."""
    gpus: dict[str, dict[str, GpuLimits]] = {}
    out: View = {}
    for leaf in _tree(alloc)[1]:
        p = leaf.program
        mine = gpus.setdefault(p.name, {})
        mine[leaf.gpu_type] = GpuLimits(leaf.quota.nominal_gpus, leaf.ceiling_gpus, None)
        out[p.name] = QueueView(p.name, leaf.cohort.name, p.weight, p.priority, sorted_gpus(mine))
    return out


def _queue(name: str, ann: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    meta = {"name": name, "labels": dict(MANAGED_BY), "annotations": ann}
    return {"apiVersion": API, "kind": "Queue", "metadata": meta, "spec": spec}


def _parent(p: Parent) -> dict[str, Any]:
    gpu = {"quota": p.nominal_gpus, "limit": p.nominal_gpus, "overQuotaWeight": 1}
    spec = {
        "displayName": f"cohort {p.cohort.name}",
        "resources": {"cpu": dict(UNMANAGED), "gpu": gpu, "memory": dict(UNMANAGED)},
    }
    return _queue(p.name, {ANN_COHORT: p.cohort.name}, spec)


def _leaf(leaf: Leaf, parent: str) -> dict[str, Any]:
    p = leaf.program
    gpu = {
        "quota": leaf.quota.nominal_gpus,
        "limit": leaf.ceiling_gpus,
        "overQuotaWeight": number(p.weight),
    }
    spec = {
        "displayName": f"{p.name} ({leaf.gpu_type})",
        "parentQueue": parent,
        "priority": DEFAULT_PRIORITY + p.priority,
        "resources": {"cpu": dict(UNMANAGED), "gpu": gpu, "memory": dict(UNMANAGED)},
    }
    ann = {ANN_PROGRAM: p.name, ANN_GPU_TYPE: leaf.gpu_type, ANN_COHORT: leaf.cohort.name}
    return _queue(leaf.name, ann, spec)


def write(alloc: Allocation) -> ExportFile:
    docs = tree_documents(*_tree(alloc), _parent, _leaf)
    notes = [
        "",
        "Apply with: kubectl apply -f kai-queues.yaml. A program's jobs go to the leaf queue",
        "of the GPU type they run on (label kai.scheduler/queue=<program>-<gpu type>) and",
        "select those nodes themselves (nodeSelector nvidia.com/gpu.product).",
    ]
    return ExportFile(FILE, header(alloc, "KAI Scheduler", notes) + dump_yaml(docs))


@guarded("kai")
def read(text: str) -> View:
    """The leaf Queues (those naming a program) back into programs."""
    gpus: dict[str, dict[str, GpuLimits]] = {}
    out: View = {}
    for ann, spec in program_queues(text, "kai"):
        gpu = spec["resources"]["gpu"]
        limit = int(gpu["limit"])
        mine = gpus.setdefault(ann[ANN_PROGRAM], {})
        mine[ann[ANN_GPU_TYPE]] = GpuLimits(int(gpu["quota"]), None if limit < 0 else limit, None)
        out[ann[ANN_PROGRAM]] = QueueView(
            ann[ANN_PROGRAM],
            ann[ANN_COHORT],
            float(gpu["overQuotaWeight"]),
            int(spec.get("priority", DEFAULT_PRIORITY)) - DEFAULT_PRIORITY,
            sorted_gpus(mine),
        )
    return out


TARGET = Target(
    "kai",
    "KAI Scheduler Queues: a parent per cohort, a leaf per program and GPU type",
    view,
    write,
    read,
)
