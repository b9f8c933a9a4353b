"""Heterogeneity-aware max-min fairness in the style of Gavel (Narayanan et al., OSDI '20),
solved as a linear program with HiGHS at every arrival and completion, in an event-driven
fluid simulator, and compared with Gavel's own results on its continuous-single workload.

Modules, one job each:

* :mod:`.lp` -- the max-min LP as sparse column-wise arrays, solved by HiGHS.
* :mod:`.warm` -- the same LP per job class, one HiGHS model kept warm across events.
* :mod:`.policies` -- ``max-min`` and ``fifo``, each one ``allocate`` method, in a registry.
* :mod:`.fluid` -- the event-driven fluid simulator (exact completion times, no rounds).
* :mod:`.workload` -- reading ``jobs.csv``, ``throughputs.csv`` and ``results.csv``.
* :mod:`.compare` -- running Gavel's job prefix and comparing JCTs with Gavel's.
"""

from __future__ import annotations

from gpufleet.labs.gavel.compare import Comparison, compare_with_gavel, run_gavel_workload
from gpufleet.labs.gavel.fluid import FluidResult, simulate
from gpufleet.labs.gavel.lp import MaxMinSolution, equal_share_throughput, solve_max_min
from gpufleet.labs.gavel.policies import POLICIES, ActiveView, PolicyName, make_policy
from gpufleet.labs.gavel.warm import WarmMaxMin, WarmStats
from gpufleet.labs.gavel.workload import HeteroWorkload, load_workload, peer_workload_dir

__all__ = [
    "POLICIES",
    "ActiveView",
    "Comparison",
    "FluidResult",
    "HeteroWorkload",
    "MaxMinSolution",
    "PolicyName",
    "WarmMaxMin",
    "WarmStats",
    "compare_with_gavel",
    "equal_share_throughput",
    "load_workload",
    "make_policy",
    "peer_workload_dir",
    "run_gavel_workload",
    "simulate",
    "solve_max_min",
]
