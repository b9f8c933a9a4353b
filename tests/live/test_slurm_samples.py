"""The Slurm client on real outputs recorded from the dev cluster (the scene of
scripts/devcluster/record_samples.py): what each job, node, association, fair-share row
and configuration value becomes."""

from __future__ import annotations

from datetime import UTC, datetime

from gpufleet.live.slurm import GpuAllocation, GpuCount, JobState, NodeState, TresLimit
from tests.live.replay import SACCT_SINCE, cli_client, replay


def at(hms: str) -> datetime:
    return datetime.fromisoformat(f"2026-12-06T{hms}+00:00").astimezone(UTC)


def test_xai_job_over_its_quota_pends_with_assoc_grp_gres_asking_two_h100() -> None:
    jobs = {j.job_id: j for j in cli_client().jobs()}
    job = jobs[13]
    assert (job.user, job.account, job.partition, job.qos) == ("xai1", "xai", "h100", "normal")
    assert (job.state, job.reason) == (JobState.PENDING, "AssocGrpGRES")
    assert (job.gpus, job.gpu_type) == (2, "h100")
    assert (job.start_time, job.elapsed_s, job.nodes, job.allocations) == (None, None, (), ())
    assert job.submit_time == at("18:11:36")
    assert job.time_limit_s == 600  # -t 10 (minutes) = 600 s
    assert job.priority == 5000  # Slurm's own: fair-share 0.5 x weight 10000


def test_tesla_job_waiting_for_gpus_pends_with_resources() -> None:
    job = next(j for j in cli_client().jobs() if j.job_id == 10)
    assert (job.state, job.reason, job.gpus, job.account) == (
        JobState.PENDING,
        "Resources",
        4,
        "tesla",
    )


def test_running_jobs_hold_the_device_indices_slurm_gave_them() -> None:
    running = {j.job_id: j for j in cli_client().jobs() if j.state is JobState.RUNNING}
    assert sorted(running) == [9, 11, 12, 14]
    assert running[9].allocations == (GpuAllocation("gf-h100-1", "h100", (4, 5, 6, 7)),)
    assert running[11].allocations == (GpuAllocation("gf-h100-1", "h100", (0, 1)),)
    assert running[12].allocations == (GpuAllocation("gf-h100-1", "h100", (2, 3)),)
    assert running[14].allocations == (GpuAllocation("gf-h100-2", "h100", tuple(range(8))),)
    # read at 18:12:00, started at 18:11:37: 23 s
    assert {j.elapsed_s for j in running.values()} == {23}
    assert running[14].start_time == at("18:11:37")
    assert running[14].end_time == at("18:21:37")  # the start plus the 10-minute limit


def test_gpus_held_on_a_node_add_up_to_what_sinfo_says_is_used() -> None:
    client = cli_client()
    held: dict[str, int] = {}
    for job in client.jobs():
        for alloc in job.allocations:
            held[alloc.node] = held.get(alloc.node, 0) + len(alloc.indices)
    used = {n.name: n.gpu_used for n in client.nodes() if n.gpu_used}
    assert held == used == {"gf-h100-1": 8, "gf-h100-2": 8}  # 4 + 2 + 2 and 8


def test_finished_jobs_keep_their_state_and_a_job_cancelled_while_pending_never_started() -> None:
    jobs = {j.job_id: j for j in cli_client().jobs()}
    assert (jobs[1].state, jobs[1].elapsed_s) == (JobState.COMPLETED, 1)  # sleep 1
    assert (jobs[2].state, jobs[2].elapsed_s) == (JobState.CANCELLED, 28)  # 18:11:03 -> :31
    cancelled_pending = jobs[6]  # Slurm reports start = end = the cancel time
    assert (cancelled_pending.start_time, cancelled_pending.elapsed_s) == (None, None)
    assert cancelled_pending.reason == "AssocGrpGRES"  # the reason it was waiting with


def test_node_set_down_for_no_power_is_seen_with_its_reason_and_who_set_it() -> None:
    nodes = {n.name: n for n in cli_client().nodes()}
    down = nodes["gf-a100-1"]
    assert (down.state, down.reason, down.reason_set_by) == (NodeState.DOWN, "no power", "root")
    assert down.reason_time == at("18:11:36")
    assert down.gpus == (GpuCount("a100", 4),)
    assert (down.gpu_total, down.gpu_used, down.usable) == (4, 0, False)
    busy = nodes["gf-h100-1"]
    assert (busy.state, busy.partitions, busy.gpu_total, busy.usable) == (
        NodeState.MIXED,
        ("h100",),
        8,
        True,
    )


def test_associations_carry_xai_gpu_cap_and_the_accounts_shares() -> None:
    assocs = {(a.account, a.user): a for a in cli_client().associations()}
    xai = assocs[("xai", "")]
    assert xai.grp_tres == (TresLimit("gres/gpu", 4),)
    assert (xai.gpu_limit(), xai.gpu_limit("h100"), xai.shares, xai.parent) == (
        4,
        None,
        40,
        "root",
    )
    assert assocs[("tesla", "")].gpu_limit() is None
    assert assocs[("tesla", "")].shares == 60
    assert assocs[("xai", "xai1")].qos == ("normal",)


def test_fairshare_rows_give_slurms_own_factors_per_user() -> None:
    rows = {(r.account, r.user): r for r in cli_client().fairshare()}
    # Fair Tree: account rows have no FairShare, only LevelFS; users carry the factor
    assert rows[("xai", "")].fairshare is None
    assert rows[("xai", "")].level_fs == 1.161746
    assert rows[("xai", "xai1")].fairshare == 0.5
    assert rows[("tesla", "tesla1")].fairshare == 0.166667
    assert rows[("tesla", "")].raw_shares == 60
    # root's children: tesla 60, xai 40, users root and gfslurmrest 1 each: 60 / 102
    assert rows[("tesla", "")].norm_shares == 0.588235
    assert rows[("xai", "xai2")].level_fs == float("inf")  # no usage yet
    assert rows[("root", "")].raw_shares is None


def test_config_gives_the_multifactor_weights_and_scheduler_intervals() -> None:
    config = cli_client().config()
    assert (config.cluster, config.version, config.priority_type) == (
        "gfdev",
        "22.05.8",
        "priority/multifactor",
    )
    w = config.weights
    assert (w.fairshare, w.age, w.qos, w.job_size, w.partition, w.assoc) == (
        10000,
        1000,
        1000,
        0,
        0,
        0,
    )
    assert config.decay_half_life_s == 86400  # 1-00:00:00
    assert config.calc_period_s == 60  # 00:01:00
    assert config.max_age_s == 86400
    s = config.scheduler
    assert (s.scheduler_type, s.sched_interval_s, s.bf_interval_s, s.bf_max_job_test) == (
        "sched/backfill",
        2,
        5,
        500,
    )
    assert s.bf_resolution_s == 60  # unset: slurm.conf(5)'s default
    assert config.enforce == ("associations", "limits", "qos")


def test_sacct_history_reads_finished_jobs_with_their_elapsed_time() -> None:
    history = {j.job_id: j for j in cli_client().history(SACCT_SINCE)}
    assert sorted(history) == list(range(1, 9))  # 9-14 had not reached slurmdbd yet
    first = history[1]
    assert (first.state, first.gpus, first.gpu_type, first.elapsed_s) == (
        JobState.COMPLETED,
        1,
        "h100",
        1,
    )
    assert (first.start_time, first.end_time) == (at("18:11:01"), at("18:11:02"))
    assert history[7].start_time is None  # cancelled while pending
    assert history[7].gpus == 8


def test_the_client_asks_each_command_once_per_read() -> None:
    runner = replay()
    client = cli_client(runner)
    client.jobs()
    client.nodes()
    client.config()
    assert runner.asked == ["squeue --json", "sinfo --json", "scontrol show config"]
