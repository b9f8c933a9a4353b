"""The forecast from now on outputs recorded from the real dev cluster (tests/live/samples/
slurm, recorded at 18:11:38 UTC and read at READ_AT = 18:12:00).

The recorded scene: gf-a100-1 is DOWN; on gf-h100-1 tesla1's job 9 (4 H100) and xai1's
jobs 11 and 12 (2 H100 each) run, on gf-h100-2 tesla2's job 14 (8 H100), all started at
18:11:37 with a 600 s limit; tesla1's job 10 (4 H100) pends on Resources, xai1's job 13
(2 H100) on AssocGrpGRES (xai's cap of 4 is reached)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gpufleet.domain.org import Milestone
from gpufleet.errors import InputError
from gpufleet.live.clock import FixedClock
from gpufleet.live.forecast import (
    SlurmState,
    forecast_from_cluster,
    forecast_from_state,
    read_slurm_state,
)
from gpufleet.live.forecast_policy import choose_policy
from gpufleet.live.mapping import ClusterMapping, load_mapping
from gpufleet.live.slurm.model import JobState, SlurmJob
from tests.live.replay import READ_AT, cli_client

MAPPING = Path(__file__).parent / "samples" / "mapping" / "devcluster.yaml"
ENDS = datetime(2026, 12, 6, 18, 21, 37, tzinfo=UTC)  # 18:11:37 + 600 s


@pytest.fixture(scope="module")
def mapping() -> ClusterMapping:
    return load_mapping(MAPPING)


@pytest.fixture(scope="module")
def state() -> SlurmState:
    return read_slurm_state(cli_client())


def job(state: SlurmState, job_id: int) -> SlurmJob:
    return next(j for j in state.jobs if j.job_id == job_id)


def test_running_jobs_end_at_their_limit_and_the_queue_starts_when_gpus_free(
    mapping: ClusterMapping,
) -> None:
    f = forecast_from_cluster(cli_client(), mapping, FixedClock(READ_AT))
    # every H100 is held until 18:21:37 (the A100 node is down): nothing starts before
    assert [(j.job_id, j.end) for j in f.running] == [(9, ENDS), (11, ENDS), (12, ENDS), (14, ENDS)]
    assert [(j.job_id, j.start, j.end) for j in f.pending] == [
        (10, ENDS, ENDS + timedelta(seconds=600)),
        (13, ENDS, ENDS + timedelta(seconds=600)),
    ]
    assert f.pending[0].program == "fsd-training" and f.pending[1].program == "grok"
    assert f.pending[0].gpu_type == "H100-SXM"
    assert f.now == READ_AT and f.until == READ_AT + timedelta(days=30)
    # the one note: the dev cluster's partitions bill CPU=1.0,GRES/gpu=10.0 (recorded
    # scontrol show partition -o), so sshare's RawUsage is divided by 10
    assert f.skipped == () and f.notes == (
        "sshare's RawUsage is in billing units: a GPU-second bills 10 (TRESBillingWeights), "
        "so usage is RawUsage / 10 GPU-seconds; the jobs' CPUs bill too (CPU=1): each "
        "CPU-second counts as 0.1 GPU-second in it",
    )


def test_a_run_time_given_replaces_the_limit(state: SlurmState, mapping: ClusterMapping) -> None:
    # job 14 (8 GPUs of gf-h100-2) told to run 100 s: it ends 18:11:37 + 100 s = 18:13:17,
    # and tesla's job 10 (4 GPUs) starts there at once; xai's job 13 (2 GPUs) would fit
    # too, but xai's GrpTRES gres/gpu=4 is full (jobs 11 and 12) until 18:21:37
    f = forecast_from_state(state, mapping, READ_AT, run_time_s={14: 100.0})
    at = datetime(2026, 12, 6, 18, 13, 17, tzinfo=UTC)
    assert next(j.end for j in f.running if j.job_id == 14) == at
    starts = {j.job_id: j.start for j in f.pending}
    assert starts == {10: at, 13: ENDS}


def test_the_milestone_date_comes_from_the_programs_work_from_now(
    state: SlurmState, mapping: ClusterMapping
) -> None:
    due = datetime(2026, 12, 6, 18, 20, tzinfo=UTC)
    # fsd-training from now (18:12:00): jobs 9 and 14, 12 H100 until 18:21:37 (577 s,
    # 6,924 GPU-s), then job 10, 4 H100 for 600 s (2,400 GPU-s)
    # 2 GPU-hours = 7,200 GPU-s: 6,924 by 18:21:37, the last 276 at 4 GPUs: 69 s later
    # 2 GPU-hours with 1 done: 3,600 GPU-s at 12 GPUs: 300 s after now, 18:17:00
    # 3 GPU-hours = 10,800 > 9,324: not reached by the known jobs
    cases = {
        (2.0, 0.0): datetime(2026, 12, 6, 18, 22, 46, tzinfo=UTC),
        (2.0, 1.0): datetime(2026, 12, 6, 18, 17, 0, tzinfo=UTC),
        (3.0, 0.0): None,
    }
    for (hours, done), reached in cases.items():
        f = forecast_from_state(
            state,
            mapping,
            READ_AT,
            milestones={"fsd-training": Milestone("m1", hours, due)},
            done_gpu_hours={"fsd-training": done},
        )
        (m,) = f.milestones
        assert (m.program, m.gpu_hours_left, m.reached) == ("fsd-training", hours - done, reached)
    late = forecast_from_state(
        state, mapping, READ_AT, milestones={"fsd-training": Milestone("m1", 2.0, due)}
    ).milestones[0]
    assert late.late_s == 166.0  # 18:22:46 - 18:20:00


def test_the_policy_is_the_clusters_with_its_weights(state: SlurmState) -> None:
    # SchedulerType=sched/backfill, PriorityWeightAge=1000, FairShare=10000, QOS=1000,
    # JobSize=0, Partition=0, PriorityMaxAge and PriorityDecayHalfLife 1 day
    choice = choose_policy(state.config)
    options = dict(choice.spec.options)
    assert choice.spec.name == "slurm-backfill"
    assert {k: options[k] for k in ("weight_age", "weight_fairshare", "weight_qos")} == {
        "weight_age": 1000.0,
        "weight_fairshare": 10000.0,
        "weight_qos": 1000.0,
    }
    assert options["weight_job_size"] == 0.0 and options["weight_partition"] == 0.0
    assert options["max_age_hours"] == 24.0 and options["decay_half_life_hours"] == 24.0
    assert options["bf_max_job_test"] == 500
    basic = replace(state.config, priority_type="priority/basic")
    assert dict(choose_policy(basic).spec.options)["weight_fairshare"] == 0.0
    builtin = replace(
        state.config, scheduler=replace(state.config.scheduler, scheduler_type="sched/builtin")
    )
    assert choose_policy(builtin).spec.name == "slurm-multifactor"


def test_held_jobs_and_jobs_of_an_unmapped_gpu_type_are_skipped_with_why(
    state: SlurmState, mapping: ClusterMapping
) -> None:
    held = replace(job(state, 10), reason="JobHeldUser")
    odd = replace(job(state, 13), job_id=99, gpu_type="mi300x")
    jobs = (*(held if j.job_id == 10 else j for j in state.jobs), odd)
    f = forecast_from_state(replace(state, jobs=jobs), mapping, READ_AT)
    assert [(s.job_id, s.why) for s in f.skipped] == [
        (10, "held by Slurm (JobHeldUser)"),
        (99, "its GPU type 'mi300x' is not mapped or has no node in partition 'h100'"),
    ]
    assert f.start_order() == [13]


def test_a_job_for_a_down_node_never_starts(state: SlurmState, mapping: ClusterMapping) -> None:
    # gf-a100-1 is DOWN ("no power" in the story): an A100 job waits past the horizon
    a100 = replace(job(state, 13), job_id=100, account="tesla", partition="a100", gpu_type="a100")
    f = forecast_from_state(replace(state, jobs=(*state.jobs, a100)), mapping, READ_AT)
    last = f.pending[-1]
    assert (last.job_id, last.start, last.gpu_type) == (100, None, None)


def test_no_work_is_an_empty_forecast_and_bad_arguments_are_errors(
    state: SlurmState, mapping: ClusterMapping
) -> None:
    done = tuple(j for j in state.jobs if j.state not in (JobState.PENDING, JobState.RUNNING))
    f = forecast_from_state(replace(state, jobs=done), mapping, READ_AT)
    assert (f.running, f.pending, f.policy.name) == ((), (), "slurm-backfill")
    with pytest.raises(InputError, match="has no timezone"):
        forecast_from_state(state, mapping, datetime(2026, 12, 6, 18, 12))
    with pytest.raises(InputError, match="horizon 0:00:00 must be after now"):
        forecast_from_state(state, mapping, READ_AT, horizon=timedelta(0))
    with pytest.raises(InputError, match=r"usage_per_gpu_s 0\.0 must be > 0"):
        forecast_from_state(state, mapping, READ_AT, usage_per_gpu_s=0.0)


def test_the_json_view_has_dates_as_iso_text(mapping: ClusterMapping) -> None:
    d = forecast_from_cluster(cli_client(), mapping, FixedClock(READ_AT)).to_dict()
    assert d["pending"][0] == {
        "job_id": 10,
        "account": "tesla",
        "user": "tesla1",
        "program": "fsd-training",
        "gpus": 4,
        "gpu_type": "H100-SXM",
        "submit": "2026-12-06T18:11:36+00:00",
        "start": "2026-12-06T18:21:37+00:00",
        "end": "2026-12-06T18:31:37+00:00",
    }
    assert d["policy"]["name"] == "slurm-backfill" and "time limit" in d["assumption"]


def test_a_completing_job_gives_its_gpus_back_now(
    state: SlurmState, mapping: ClusterMapping
) -> None:
    # job 14 (8 GPUs of gf-h100-2) in its epilog: free at READ_AT, where tesla's job 10
    # starts; xai's job 13 still waits for its cap (jobs 11 and 12 end at 18:21:37)
    ending = replace(job(state, 14), state=JobState.COMPLETING)
    jobs = tuple(ending if j.job_id == 14 else j for j in state.jobs)
    f = forecast_from_state(replace(state, jobs=jobs), mapping, READ_AT)
    assert next(j.end for j in f.running if j.job_id == 14) == READ_AT
    assert {j.job_id: j.start for j in f.pending} == {10: READ_AT, 13: ENDS}
