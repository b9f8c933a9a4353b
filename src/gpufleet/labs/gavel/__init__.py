"""Heterogeneity-aware max-min fairness in the style of Gavel (Narayanan et al., OSDI '20),
solved as a linear program with HiGHS at every arrival and completion, in an event-driven
fluid simulator, and compared with Gavel's own results on its continuous-single workload.

Modules, one job each:

* :mod:`.lp` -- the max-min LP as sparse column-wise arrays, solved by HiGHS.
* :mod:`.warm` -- the same LP per job class, one HiGHS model kept warm across events.
* :mod:`.policies` -- ``max-min`` and ``fifo``, each one ``allocate`` method, in a registry
  (:data:`GAVEL_POLICIES`).
* :mod:`.fluid` -- the event-driven fluid simulator (exact completion times, no rounds).
* :mod:`.workload` -- reading ``jobs.csv``, ``throughputs.csv`` and ``results.csv``.
* :mod:`.compare` -- running Gavel's job prefix and comparing JCTs with Gavel's.
"""

from __future__ import annotations

from gpufleet.labs.gavel.compare import GavelComparison, compare_with_gavel, run_gavel_workload
from gpufleet.labs.gavel.fluid import FluidResult, simulate_fluid
from gpufleet.labs.gavel.lp import MaxMinSolution, equal_share_throughput, solve_max_min
from gpufleet.labs.gavel.policies import (
    GAVEL_POLICIES,
    ActiveView,
    AllocationPolicy,
    allocation_policy,
)
from gpufleet.labs.gavel.warm import WarmMaxMin, WarmStats
from gpufleet.labs.gavel.workload import HeteroWorkload, load_workload, peer_workload_dir

__all__ = [
    "GAVEL_POLICIES",
    "ActiveView",
    "AllocationPolicy",
    "FluidResult",
    "GavelComparison",
    "HeteroWorkload",
    "MaxMinSolution",
    "WarmMaxMin",
    "WarmStats",
    "allocation_policy",
    "compare_with_gavel",
    "equal_share_throughput",
    "load_workload",
    "peer_workload_dir",
    "run_gavel_workload",
    "simulate_fluid",
    "solve_max_min",
]
