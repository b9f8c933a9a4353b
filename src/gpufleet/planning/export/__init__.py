"""Exports of a plan to the schedulers people run: the allocation in force at a date
(:mod:`gpufleet.planning.allocation`) written as Kueue, Slurm, KAI, Volcano or YuniKorn
configuration, and read back. How each maps, and what does not: docs/exports.md.

Targets are registered by name in :data:`TARGETS` (a :class:`~gpufleet.registry.Registry`);
an unknown name is an error listing the valid ones.
"""

from __future__ import annotations

from gpufleet.planning.export import kai, kueue, slurm, volcano, yunikorn
from gpufleet.planning.export.model import ExportFile, GpuLimits, QueueView, Target, View
from gpufleet.registry import Registry

TARGETS = Registry[Target]("export target")
for _target in (kueue.TARGET, slurm.TARGET, kai.TARGET, volcano.TARGET, yunikorn.TARGET):
    TARGETS.add(_target.name, _target)


def target(name: str) -> Target:
    """The export target ``name``; an unknown name lists the valid ones."""
    return TARGETS.get(name)


__all__ = ["TARGETS", "ExportFile", "GpuLimits", "QueueView", "Target", "View", "target"]
