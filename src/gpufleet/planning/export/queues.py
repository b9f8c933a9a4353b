"""The queue tree shared by the schedulers whose queues count GPUs without a type (KAI,
Volcano, YuniKorn): a parent queue per cohort and, under it, one leaf queue per program and
GPU type of its quota.

Why a leaf per GPU type: those queues hold one number for ``nvidia.com/gpu`` whatever the
model, so a program with H100 and A100 quotas needs a queue for each to keep both numbers;
its jobs go to the leaf of the type they run on (and select those nodes themselves). A
program without any quota gets no leaf: under the ``quota`` policy it can run nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from gpufleet.domain.ids import GpuTypeName
from gpufleet.domain.org import Quota
from gpufleet.planning.allocation import Allocation, CohortAllocation, ProgramAllocation
from gpufleet.planning.export.model import ANN_PROGRAM, distinct, load_yaml


@dataclass(frozen=True)
class Leaf:
    """One program's quota of one GPU type, and the most it can hold (its ceiling)."""

    name: str
    cohort: CohortAllocation
    program: ProgramAllocation
    gpu_type: GpuTypeName
    quota: Quota
    ceiling_gpus: int


@dataclass(frozen=True)
class Parent:
    """A cohort's queue: its total nominal quota over all GPU types, and the part of it
    nobody may borrow (the sum of guaranteed parts)."""

    name: str
    cohort: CohortAllocation
    nominal_gpus: int
    guaranteed_gpus: int


def tree(
    alloc: Allocation,
    target: str,
    leaf_name: Callable[[str, str], str],
    cohort_name: Callable[[str], str],
) -> tuple[list[Parent], list[Leaf]]:
    """The cohorts that have a leaf, and the leaves, in scenario order; names checked to be
    distinct (queues share one namespace)."""
    leaves: list[Leaf] = []
    parents: list[Parent] = []
    for c in alloc.cohorts:
        mine = [
            Leaf(leaf_name(p.name, t), c, p, t, q, c.ceiling_gpus(p, t))
            for p in c.programs
            for t, q in p.quotas
        ]
        if mine:
            nominal = sum(leaf.quota.nominal_gpus for leaf in mine)
            guaranteed = sum(leaf.quota.guaranteed_gpus for leaf in mine)
            parents.append(Parent(cohort_name(c.name), c, nominal, guaranteed))
            leaves.extend(mine)
    names = {f"cohort {p.cohort.name}": p.name for p in parents}
    names.update({f"{leaf.program.name} {leaf.gpu_type}": leaf.name for leaf in leaves})
    distinct(names, "queues", target)
    return parents, leaves


def tree_documents(
    parents: list[Parent],
    leaves: list[Leaf],
    parent_doc: Callable[[Parent], dict[str, Any]],
    leaf_doc: Callable[[Leaf, str], dict[str, Any]],
) -> list[dict[str, Any]]:
    """Parent queue documents first, then each leaf under its cohort's parent."""
    parent_of = {p.cohort.name: p.name for p in parents}
    return [parent_doc(p) for p in parents] + [
        leaf_doc(leaf, parent_of[leaf.cohort.name]) for leaf in leaves
    ]


def program_queues(text: str, target: str) -> Iterator[tuple[dict[str, str], dict[str, Any]]]:
    """(annotations, spec) of each leaf Queue document naming a program."""
    for q in load_yaml(text, target):
        ann = q["metadata"].get("annotations", {})
        if ANN_PROGRAM in ann:
            yield ann, q["spec"]
