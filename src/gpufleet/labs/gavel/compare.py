"""Running our policies on Gavel's exact workload and comparing with Gavel's own JCTs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpufleet.labs.gavel.fluid import EVERY_EVENT, FluidResult, Timing, simulate_fluid
from gpufleet.labs.gavel.policies import allocation_policy
from gpufleet.labs.gavel.workload import (
    GAVEL_CLUSTER_GPUS,
    WINDOW,
    load_workload,
    read_gavel_results,
)

#: How many jobs Gavel generated before its run ended (README of the peer workload).
GAVEL_JOB_PREFIX = {"max-min": 5576, "fifo": 7591, "fifo-gavel": 7591}
#: The Gavel run each of our policies is compared with (results.csv's column).
GAVEL_RUN = {"max-min": "max-min", "fifo": "fifo", "fifo-gavel": "fifo"}
#: Gavel's printed average JCT over jobs 4,000-4,999 (summary.csv).
GAVEL_AVG_JCT_S = {"max-min": 61460.622710, "fifo": 94579.078827, "fifo-gavel": 94579.078827}


@dataclass(frozen=True)
class GavelComparison:
    """Ours against Gavel on the window jobs 4,000-4,999."""

    policy: str  # a name in GAVEL_POLICIES
    avg_jct_s: float
    gavel_avg_jct_s: float
    pearson_r: float  # per-job JCT, ours vs Gavel's
    pearson_r_log: float  # the same on log(JCT)
    allocations: int
    simulated_s: float

    @property
    def ratio(self) -> float:
        return self.avg_jct_s / self.gavel_avg_jct_s


def run_gavel_workload(folder: Path, policy: str, timing: Timing = EVERY_EVENT) -> FluidResult:
    """Simulate Gavel's job prefix for ``policy`` until every window job is done."""
    chosen = allocation_policy(policy)  # first: an unknown name lists the valid ones
    wl = load_workload(folder).prefix(GAVEL_JOB_PREFIX[policy])
    window = np.arange(*WINDOW, dtype=np.int64)
    return simulate_fluid(wl, chosen, GAVEL_CLUSTER_GPUS, must_finish=window, timing=timing)


def compare_with_gavel(folder: Path, policy: str, timing: Timing = EVERY_EVENT) -> GavelComparison:
    res = run_gavel_workload(folder, policy, timing)
    gavel = read_gavel_results(folder)
    ours = res.jct_s[gavel["job_id"].astype(np.int64)]
    theirs = gavel[GAVEL_RUN[policy]]
    return GavelComparison(
        policy=policy,
        avg_jct_s=float(ours.mean()),
        gavel_avg_jct_s=GAVEL_AVG_JCT_S[policy],
        pearson_r=float(np.corrcoef(ours, theirs)[0, 1]),
        pearson_r_log=float(np.corrcoef(np.log(ours), np.log(theirs))[0, 1]),
        allocations=res.allocations,
        simulated_s=res.end_s,
    )
