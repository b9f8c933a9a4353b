"""The simulator started from a fleet already at work (Simulation.start_from): running jobs
keep their GPUs until their given end, pending jobs keep their past submit times, and a
cycle runs at time 0."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gpufleet.domain import CohortId, EntityId, GpuTypeName, JobId, PoolId, ProgramId, SiteId
from gpufleet.domain.fleet import NodePool, Site
from gpufleet.domain.gpus import default_catalog
from gpufleet.domain.jobs import JobSpec
from gpufleet.domain.org import Entity, Program
from gpufleet.domain.scenario import CostModel, PolicySpec, Scenario
from gpufleet.engine.timeline import Running
from gpufleet.errors import InternalError
from gpufleet.sim.simulator import Simulation
from gpufleet.state.capacity import Placement
from gpufleet.state.jobs import JobState

H100 = GpuTypeName("H100-SXM")
START = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def two_nodes(policy: str = "fifo") -> Simulation:
    """Two 8-H100 nodes (run node ids 0 and 1), one program ``p``."""
    sc = Scenario(
        name="from now",
        start=START,
        end=START + timedelta(hours=2),
        seed=0,
        catalog=default_catalog(),
        sites=(Site(SiteId("dc"), power_budget_kw=1e6, pue=1.0),),
        pools=(
            NodePool(
                PoolId("pool"), SiteId("dc"), H100, 8, 2, EntityId("org"), START, value_usd=0.0
            ),
        ),
        entities=(
            Entity(
                EntityId("org"),
                CohortId("c"),
                (Program(ProgramId("p"), EntityId("org")),),
            ),
        ),
        transfers=(),
        quota_changes=(),
        policy=PolicySpec(policy),
        cost=CostModel(),
        workloads=(),
    )
    return Simulation(sc)


def spec(i: int, gpus: int, work_s: float, submit_s: float = -60.0) -> JobSpec:
    return JobSpec(JobId(i), ProgramId("p"), submit_s, gpus, work_s, (H100,))


def test_running_jobs_hold_their_gpus_until_their_end_and_the_queue_starts_behind_them() -> None:
    sim = two_nodes()
    group = sim.state.capacity.node_group[0]
    running = [
        # started 100 s ago on all of node 0, ends 200 s from now
        Running(spec(0, 8, 300.0), Placement(group, ((0, 8),)), -100.0, 200.0),
        # started 50 s ago on 4 GPUs of node 1, ends 50 s from now
        Running(spec(1, 4, 100.0), Placement(group, ((1, 4),)), -50.0, 50.0),
    ]
    pending = [spec(2, 4, 600.0), spec(3, 8, 60.0)]
    jobs = sim.start_from(running, pending)
    # at 0 the 4 free GPUs of node 1 take job 2 (4 GPUs); job 3 (8) waits for a whole
    # node: node 1 frees 4 more at 50 s but job 2 holds the others until 600 s; node 0
    # frees at 200 s, so job 3 starts at 200 and ends at 200 + 60 = 260
    assert jobs[2].state is JobState.RUNNING and jobs[2].start_s == 0.0
    assert jobs[3].state is JobState.PENDING
    sim.run_until(7200.0)
    rec = sim.recorder
    got = {int(j): (s, f) for j, s, f in zip(rec.j_id, rec.j_start, rec.j_finish, strict=True)}
    assert got == {
        1: (-50.0, 50.0),
        0: (-100.0, 200.0),
        3: (200.0, 260.0),
        2: (0.0, 600.0),
    }
    assert sim.submitted == 4


def test_a_pending_jobs_age_counts_from_its_submit_time_before_now() -> None:
    sim = two_nodes("slurm-multifactor")
    jobs = sim.start_from([], [spec(0, 1, 10.0, submit_s=-3600.0)])
    # submitted an hour before time 0, started at 0: it waited an hour
    assert jobs[0].spec.submit_s == -3600.0 and jobs[0].start_s == 0.0


def test_a_node_named_down_takes_no_job() -> None:
    sim = two_nodes()
    jobs = sim.start_from([], [spec(0, 8, 10.0), spec(1, 8, 10.0)], down_nodes=[1])
    sim.run_until(7200.0)
    # node 1 is down for the whole run: the two 8-GPU jobs take node 0 one after the other
    assert (jobs[0].first_start_s, jobs[1].first_start_s) == (0.0, 10.0)


def test_start_from_refuses_ids_out_of_order_and_a_second_call() -> None:
    with pytest.raises(InternalError, match="job id 5 given where 0 is next"):
        two_nodes().start_from([], [spec(5, 1, 10.0)])
    sim = two_nodes()
    sim.start_from([], [spec(0, 1, 10.0)])
    with pytest.raises(InternalError, match="after the run began"):
        sim.start_from([], [])
