"""Exports of a plan to the schedulers people run: the allocation in force at a date
(:mod:`gpufleet.planning.allocation`) written as Kueue, Slurm, KAI, Volcano or YuniKorn
configuration, and
read back. How each maps, and what does not: docs/exports.md.

Targets are registered by name here; an unknown name is an error listing the valid ones.
"""

from __future__ import annotations

from gpufleet.errors import UnknownNameError
from gpufleet.planning.export import kai, kueue, slurm, volcano, yunikorn
from gpufleet.planning.export.model import ExportFile, GpuLimits, QueueView, Target, View

TARGETS: dict[str, Target] = {
    t.name: t for t in (kueue.TARGET, slurm.TARGET, kai.TARGET, volcano.TARGET, yunikorn.TARGET)
}


def target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise UnknownNameError("export target", name, list(TARGETS)) from None


__all__ = ["TARGETS", "ExportFile", "GpuLimits", "QueueView", "Target", "View", "target"]
