"""The forecast against the real dev cluster (issue 12, item 5): 80 short jobs from tesla
and xai (xai capped at 4 GPUs) released together after a blocker; the forecast made at
release against the starts sacct reports (the scene: tests/live/forecast_workload.py).

What it can honestly reach, measured on this machine (docs/validation.md, "Forecast
against a real Slurm"): with Slurm's recalculations at BOOT_TIME plus whole
PriorityCalcPeriods, nine recorded runs of seeds 12-14 replayed gave tau-b 0.922-0.974
(median 0.945) with run times given and Slurm's own fair-share factors, median start
error 1.2-6.6 s; seed 12 alone 0.970, 0.965 and 0.936. Submit order reached 0.62-0.84
and accounts by fair-share 0.77-0.85 in the same runs. What remains is noise of Slurm's
own: its passes every sched_interval race a job's end by milliseconds, and runs of one
seed differ by up to 0.05. The test asks for tau >= 0.90 (a margin of 0.036 under seed
12's lowest), a median error under 10 s, and a better order than both naive ones. About
3 minutes."""

from __future__ import annotations

import pytest

from tests.live.devcluster import DevCluster
from tests.live.forecast_workload import run_validation

# about 3 minutes of a real Slurm running jobs: kept out of the default run (slow), run by
# .ci/run as its own step after the README's test command
pytestmark = [pytest.mark.live, pytest.mark.slow]


def test_the_forecast_at_release_orders_starts_as_slurm_did(devcluster: DevCluster) -> None:
    with devcluster.exclusive():
        got = run_validation(devcluster, seed=12, n=80)
    assert got.told.jobs == 80
    assert got.told.tau >= 0.90, got
    assert got.told.median_error_s is not None and got.told.median_error_s < 10.0, got
    assert got.told.tau > got.by_fairshare.tau > got.by_submit.tau, got
