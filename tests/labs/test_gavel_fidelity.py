"""Gavel's FIFO as its code runs (``fifo-gavel``: scheduler/policies/fifo.py, base mode)
and Gavel's recompute timing (:class:`~gpufleet.labs.gavel.fluid.Timing`), by hand; and
why a per-job correlation with Gavel's FIFO says little (its own seed moves it)."""

from __future__ import annotations

import numpy as np
import pytest

from gpufleet.labs.gavel import ActiveView, HeteroWorkload, peer_workload_dir
from gpufleet.labs.gavel import allocation_policy as make_policy
from gpufleet.labs.gavel import simulate_fluid as simulate
from gpufleet.labs.gavel.fluid import GAVEL_TIMING, Timing
from gpufleet.labs.gavel.policies import GavelFifo
from gpufleet.labs.gavel.workload import GAVEL_CLUSTER_GPUS, load_workload

ONE_EACH = np.array([1.0, 1.0, 1.0])  # columns v100, p100, k80 (workload.GPU_TYPES)


def _queued(n: int) -> ActiveView:
    """``n`` jobs of one class, 1 step/s on every type, none placed yet."""
    return ActiveView(
        np.zeros(n, dtype=np.int64), np.zeros((n, 3)), np.ones((1, 3)), ONE_EACH,
        np.arange(n, dtype=np.int64),
    )  # fmt: skip


def test_gavels_fifo_pins_every_later_job_to_a_full_v100_when_its_draw_drops_p100() -> None:
    # Types sorted by name: [k80, p100, v100]; a job takes the list's last type. Seed 0's
    # first randrange(3) is 1: when job 0 fills the V100, entry 1 (p100) is dropped, not
    # v100, so v100 stays last and jobs 1-3 are given it too while P100 and K80 stay free.
    # Four jobs on one V100 share it: 1/4 each.
    x = GavelFifo(seed=0).allocate(_queued(4))
    assert x.tolist() == [[0.25, 0.0, 0.0]] * 4


def test_gavels_fifo_fills_v100_p100_k80_when_its_draws_drop_the_full_type() -> None:
    # Seed 5's draws are randrange(3) = 2 then randrange(2) = 1: each time a type fills,
    # the full type itself is dropped, so jobs 0, 1, 2 take v100, p100, k80 and job 3 waits.
    x = GavelFifo(seed=5).allocate(_queued(4))
    assert x.tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]


def test_a_finished_jobs_type_goes_to_the_head_of_the_queue_and_is_kept() -> None:
    policy = GavelFifo(seed=5)
    policy.allocate(_queued(4))  # jobs 0, 1, 2 on v100, p100, k80; job 3 queued
    # job 1 (p100) has finished: job 3 inherits p100; jobs 0 and 2 keep their types
    later = ActiveView(
        np.zeros(3, dtype=np.int64), np.zeros((3, 3)), np.ones((1, 3)), ONE_EACH,
        np.array([0, 2, 3]),
    )  # fmt: skip
    assert policy.allocate(later).tolist() == [[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]]
    assert policy.assigned == {0: 0, 2: 2, 3: 1}


def test_the_recompute_is_due_a_gap_after_the_last_at_a_round_boundary() -> None:
    # max(100, 0 + 1920) = 1920, rounded up to a multiple of 360: 6 x 360 = 2160
    assert GAVEL_TIMING.due(100.0, 0.0) == 2160.0
    # a change long after the gap: at the next round boundary, ceil(5000 / 360) x 360
    assert GAVEL_TIMING.due(5000.0, 0.0) == 5040.0
    assert Timing().due(7.5, 0.0) == 7.5  # the default: at once


def test_with_a_recompute_gap_a_new_job_waits_for_the_recompute_not_for_a_free_gpu() -> None:
    # One GPU, 1 step/s. A (100 steps) at 0, B (100 steps) at 10. Every event: B starts
    # when A ends, 100, and ends at 200. With a 1,920 s gap: the first recompute at 0
    # starts A; B's arrival is due at 0 + 1920; A's GPU idles from 100; B ends at 2,020.
    wl = HeteroWorkload(
        np.array([0.0, 10.0]), np.array([100.0, 100.0]), np.zeros(2, dtype=np.int64),
        ("a",), np.array([[1.0]]),
    )  # fmt: skip
    assert simulate(wl, make_policy("fifo"), [1]).finish_s.tolist() == [100.0, 200.0]
    gap = simulate(wl, make_policy("fifo"), [1], timing=Timing(recompute_gap_s=1920.0))
    assert gap.finish_s.tolist() == [100.0, 2020.0]
    assert gap.allocations == 2


needs_peer = pytest.mark.skipif(
    not (peer_workload_dir() / "jobs.csv").exists(),
    reason=f"Gavel peer workload not found at {peer_workload_dir()} (GPUFLEET_PEER_WORKLOADS)",
)


@needs_peer
def test_allocating_at_every_event_gavels_fifo_is_our_fifo() -> None:
    # An oracle: one job placed per event never over-fills a type, so Gavel's code path
    # (with its random draws) gives exactly our fifo's V100, P100, K80 order; first 1,500
    # jobs of Gavel's workload, all of them run to the end.
    wl = load_workload(peer_workload_dir()).prefix(1500)
    ours = simulate(wl, make_policy("fifo"), GAVEL_CLUSTER_GPUS)
    gavels = simulate(wl, make_policy("fifo-gavel"), GAVEL_CLUSTER_GPUS)
    assert np.array_equal(ours.finish_s, gavels.finish_s)
