"""What the labs share: their policies, each registered by name with a one-line summary
(for ``gpufleet policies``) and how to build it, in a :class:`~gpufleet.registry.Registry`
whose unknown-name error lists the valid names.

A lab's policies have a shape of their own (an allocation of time fractions for Gavel, node
scores and GPU slots for FGD), so what a :class:`LabPolicy` builds is a type parameter:
``LabPolicies[Callable[[], AllocationPolicy]]`` in one lab, a builder that takes the
cluster and the target workload in the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from gpufleet.registry import Registry

B = TypeVar("B")


@dataclass(frozen=True)
class LabPolicy(Generic[B]):
    """A lab policy: its name, what it does in one line, and its builder."""

    name: str
    summary: str
    build: B


class LabPolicies(Registry[LabPolicy[B]]):
    """One lab's policies, in the order they were defined."""

    def define(self, name: str, summary: str, build: B) -> None:
        self.add(name, LabPolicy(name, summary, build))

    def builder(self, name: str) -> B:
        """The builder of policy ``name``; an unknown name lists the valid ones."""
        return self.get(name).build

    def entries(self) -> list[LabPolicy[B]]:
        return [entry for _, entry in self.items()]
