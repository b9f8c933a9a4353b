"""The forecast against the real dev cluster (issue 12, item 5): 80 short jobs from tesla
and xai (xai capped at 4 GPUs) released together after a blocker; the forecast made at
release against the starts sacct reports (the scene: tests/live/forecast_workload.py).

What it can honestly reach, measured on this machine (docs/validation.md, "Forecast
against a real Slurm" and "Discordant pairs, classified"): with planned jobs holding
whole nodes, windows reaching their end instant and whole-number priorities, thirteen
recorded runs of seeds 12-14 replayed gave tau-b 0.912-0.975 (median 0.957) with run
times given and Slurm's own fair-share factors, median start error 0.9-4.2 s; seed 12
alone 0.912-0.966 over five runs (0.951 live on 2026-12-07 01:00). Submit order reached
0.64-0.78 and accounts by fair-share 0.78-0.85 in the twelve live runs. What remains is mostly
the race among a capped account's jobs ending within the same second, which decides
whether its 4-GPU job or a smaller one behind it starts. The test asks for tau >= 0.90
(0.95, issue 18's figure, would fail about one seed-12 run in five), a median error
under 10 s, and a better order than both naive ones. About 3 minutes."""

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
