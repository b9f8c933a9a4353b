"""Apache YuniKorn: the ``queues.yaml`` of the scheduler's ConfigMap (``yunikorn-configs``),
partition ``default``, queue tree ``root.<cohort>.<program>.<GPU type>``.

- a parent queue per cohort: ``guaranteed`` = ``max`` = the cohort's total nominal quota
  (cohorts share nothing, so the cohort holds no more than its quota);
- a parent queue per program with a quota: ``guaranteed`` = its nominal quotas summed, and
  ``priority.offset`` = the program's priority (YuniKorn adjusts a queue's priority against
  its siblings by it);
- a leaf per GPU type of the program's quota (see :mod:`gpufleet.planning.export.queues`):
  ``guaranteed`` = nominal (preemption never takes a queue below it), ``max`` = the most the
  program can hold of that type (nominal + borrowing limit, capped by what the cohort can
  lend).

Not mapped: the lending limit (YuniKorn lends all unused guaranteed resources), the weight
(YuniKorn shares by guaranteed resources, it has no queue weight) and the GPU type. A leaf
whose ceiling is 0 is left out (YuniKorn ignores an all-zero ``max``, which would leave the
leaf unbounded). Queue names keep gpufleet's names; a character YuniKorn refuses (such as
'.') becomes '_'.

Field names and types: https://yunikorn.apache.org/docs/user_guide/queue_config (partitions,
queues, parent, resources.guaranteed / max, properties priority.offset; values are strings)
and the QueueConfig struct in apache/yunikorn-core pkg/common/configs/config.go.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from gpufleet.planning.allocation import Allocation
from gpufleet.planning.export.model import (
    GPU_RESOURCE,
    ExportFile,
    GpuLimits,
    QueueView,
    Target,
    View,
    distinct,
    guarded,
    header,
    load_yaml,
    sorted_gpus,
)
from gpufleet.planning.export.queues import Leaf, Parent, tree

FILE = "yunikorn-queues.yaml"
PARTITION = "default"
_REFUSED = re.compile(r"[^A-Za-z0-9_:#/@-]")


def queue_name(name: str) -> str:
    """YuniKorn's queue names: letters, digits, '_', ':', '#', '/', '@', '-', at most 64."""
    return _REFUSED.sub("_", name)[:64]


def _tree(alloc: Allocation) -> tuple[list[Parent], list[Leaf]]:
    """The shared tree less the leaves that can hold no GPU: YuniKorn ignores a ``max``
    whose every resource is 0, so such a leaf would have no bound at all."""
    parents, leaves = tree(alloc, "yunikorn", lambda p, t: f"{p}/{t}", queue_name)
    distinct({p.name: queue_name(p.name) for p in alloc.programs()}, "programs", "yunikorn")
    distinct({t: queue_name(t) for t in alloc.gpu_types()}, "GPU types", "yunikorn")
    leaves = [leaf for leaf in leaves if leaf.ceiling_gpus > 0]
    kept = {leaf.cohort.name for leaf in leaves}
    return [p for p in parents if p.cohort.name in kept], leaves


def view(alloc: Allocation) -> View:
    """Programs with a quota, under YuniKorn's names: nominal and ceiling per GPU type,
    priority."""
    gpus: dict[str, dict[str, GpuLimits]] = {}
    out: View = {}
    for leaf in _tree(alloc)[1]:
        p = leaf.program
        name = queue_name(p.name)
        mine = gpus.setdefault(name, {})
        mine[queue_name(leaf.gpu_type)] = GpuLimits(
            leaf.quota.nominal_gpus, leaf.ceiling_gpus, None
        )
        out[name] = QueueView(
            name, queue_name(leaf.cohort.name), None, p.priority, sorted_gpus(mine)
        )
    return out


def _gpus(n: int) -> dict[str, str]:
    return {GPU_RESOURCE: str(n)}


def _cohort_queue(parent: Parent, leaves: list[Leaf]) -> dict[str, Any]:
    programs: dict[str, list[Leaf]] = {}
    for leaf in leaves:
        if leaf.cohort.name == parent.cohort.name:
            programs.setdefault(leaf.program.name, []).append(leaf)
    return {
        "name": parent.name,
        "parent": True,
        "resources": {
            "guaranteed": _gpus(parent.nominal_gpus),
            "max": _gpus(parent.nominal_gpus),
        },
        "queues": [_program_queue(mine) for mine in programs.values()],
    }


def _program_queue(leaves: list[Leaf]) -> dict[str, Any]:
    p = leaves[0].program
    return {
        "name": queue_name(p.name),
        "parent": True,
        "properties": {"priority.offset": str(p.priority)},
        "resources": {"guaranteed": _gpus(sum(leaf.quota.nominal_gpus for leaf in leaves))},
        "queues": [
            {
                "name": queue_name(leaf.gpu_type),
                "resources": {
                    "guaranteed": _gpus(leaf.quota.nominal_gpus),
                    "max": _gpus(leaf.ceiling_gpus),
                },
            }
            for leaf in leaves
        ],
    }


def write(alloc: Allocation) -> ExportFile:
    parents, leaves = _tree(alloc)
    root = {
        "name": "root",
        "submitacl": "*",
        "queues": [_cohort_queue(p, leaves) for p in parents],
    }
    doc = {"partitions": [{"name": PARTITION, "queues": [root]}]}
    notes = [
        "",
        "The queues.yaml entry of the yunikorn-configs ConfigMap. A program's jobs go to",
        "root.<cohort>.<program>.<GPU type> (label queue or yunikorn.apache.org/queue) and",
        "select those nodes themselves (nodeSelector nvidia.com/gpu.product).",
    ]
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    return ExportFile(FILE, header(alloc, "YuniKorn", notes) + body)


@guarded("yunikorn")
def read(text: str) -> View:
    """Every leaf three levels below root back into its program's GPU type."""
    docs = load_yaml(text, "yunikorn")
    partition = next(p for p in docs[0]["partitions"] if p["name"] == PARTITION)
    root = next(q for q in partition["queues"] if q["name"] == "root")
    out: View = {}
    for cohort in root.get("queues", []):
        for program in cohort.get("queues", []):
            gpus = {
                leaf["name"]: GpuLimits(
                    int(leaf["resources"]["guaranteed"][GPU_RESOURCE]),
                    int(leaf["resources"]["max"][GPU_RESOURCE]),
                    None,
                )
                for leaf in program.get("queues", [])
            }
            priority = int(program.get("properties", {}).get("priority.offset", "0"))
            name = program["name"]
            out[name] = QueueView(name, cohort["name"], None, priority, sorted_gpus(gpus))
    return out


TARGET = Target(
    "yunikorn",
    "YuniKorn queues.yaml: root.<cohort>.<program>.<GPU type>",
    view,
    write,
    read,
)
