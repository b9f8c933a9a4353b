"""GPU-sharing packing simulator and the FGD reproduction (Weng et al., "Beware of
Fragmentation: Scheduling GPU-Sharing Workloads with Fragmentation Gradient Descent",
USENIX ATC '23).

Modules, one job each:

* :mod:`.cluster` -- the cluster's state: per-GPU remaining milli-GPU, CPU and memory per
  node (numpy arrays), pod shapes, feasibility and the one place state changes.
* :mod:`.frag` -- the target workload's pod-shape distribution and the fragmentation
  measure (GPUs free but unusable by the workload's shapes), per node and per cluster.
* :mod:`.policies` -- Random, DotProd, GpuClustering, GpuPacking, BestFit and FGD, each a
  vectorised node score plus a GPU choice, in a registry by name (:data:`FGD_POLICIES`).
* :mod:`.experiment` -- the artifact's packing experiment: shuffle, inflate to 130 % of
  GPU capacity, place in order with no departures, report the share of GPUs allocated.
* :mod:`.openb` -- the openb trace's GPU nodes and pods, read through its trace loader.
"""

from __future__ import annotations

from gpufleet.labs.fgd.cluster import MILLI, Cluster, PodShape
from gpufleet.labs.fgd.experiment import RunResult, inflate, run_packing
from gpufleet.labs.fgd.frag import TargetWorkload, cluster_fragmentation, node_fragmentation
from gpufleet.labs.fgd.policies import FGD_POLICIES, PackingPolicy, packing_policy

__all__ = [
    "FGD_POLICIES",
    "MILLI",
    "Cluster",
    "PackingPolicy",
    "PodShape",
    "RunResult",
    "TargetWorkload",
    "cluster_fragmentation",
    "inflate",
    "node_fragmentation",
    "packing_policy",
    "run_packing",
]
