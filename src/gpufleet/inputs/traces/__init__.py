"""Real workloads in: the normalized workload format, trace loaders and importers."""

from gpufleet.inputs.traces.workload import FleetGroup, Workload

__all__ = ["FleetGroup", "Workload"]
