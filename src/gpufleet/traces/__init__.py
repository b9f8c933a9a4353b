"""Real workloads in: the normalized workload format, trace loaders and importers."""

from gpufleet.traces.workload import FleetGroup, Workload

__all__ = ["FleetGroup", "Workload"]
