"""The article's story on the real local Slurm and Prometheus (scripts/devcluster/up):
tesla's jobs run, xai's third job pends on xai's GPU quota, a node goes down for "no
power", and Prometheus holds the DCGM utilisation of the GPUs Slurm gave each job. Both
ways into Slurm (commands, slurmrestd) must see the same. Skips when the cluster is down."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from gpufleet.live.slurm import (
    JobState,
    NodeState,
    SlurmJob,
    SlurmReader,
    SlurmRestSource,
    open_slurm,
)
from tests.live.devcluster import DevCluster, wait_for

pytestmark = pytest.mark.live

USERS = ("tesla1", "tesla2", "xai1", "xai2")
DOWN_NODE = "gf-a100-1"


@dataclass(frozen=True)
class Story:
    cluster: DevCluster
    tesla: tuple[int, int]  # two jobs of 4 H100, utilisation 73 set by job comment
    xai_running: tuple[int, int]  # two jobs of 2 H100: xai's cap of 4 GPUs reached
    xai_over_quota: int  # a third 2-H100 job: pends with AssocGrpGRES


def _clean(cluster: DevCluster) -> None:
    for user in USERS:  # scancel -u takes one user
        cluster.slurm("scancel", "-u", user)
    state = cluster.slurm("sinfo", "-h", "-N", "-n", DOWN_NODE, "-o", "%T")
    if state.startswith(("down", "drain")):  # Slurm refuses to resume an idle node
        cluster.slurm("scontrol", "update", f"nodename={DOWN_NODE}", "state=resume")
    wait_for("no jobs of the story's users", lambda: _none_left(cluster), 60)


def _none_left(cluster: DevCluster) -> bool | None:
    left = cluster.slurm("squeue", "-h", "-u", ",".join(USERS), "-t", "PD,R,CG", "-o", "%i")
    return True if not left else None


@pytest.fixture(scope="module")
def story(devcluster: DevCluster) -> Iterator[Story]:
    cluster = devcluster
    with cluster.exclusive():
        yield from _story(cluster)


def _story(cluster: DevCluster) -> Iterator[Story]:
    _clean(cluster)  # also what a run killed midway left: its jobs, the node down
    tesla = tuple(
        cluster.submit("tesla1", "tesla", "h100:4", f"tesla-train-{i}", "gpu_util=73")
        for i in (1, 2)
    )
    xai = [cluster.submit("xai1", "xai", "h100:2", f"xai-grok-{i}") for i in (1, 2)]
    wait_for("xai's first two jobs running", lambda: _running(cluster, xai), 30)
    over = cluster.submit("xai1", "xai", "h100:2", "xai-grok-3")
    cluster.slurm("scontrol", "update", f"nodename={DOWN_NODE}", "state=down", "reason=no power")
    try:
        yield Story(cluster, (tesla[0], tesla[1]), (xai[0], xai[1]), over)
    finally:
        cluster.util_control.unlink(missing_ok=True)
        _clean(cluster)


def _running(cluster: DevCluster, ids: list[int]) -> bool | None:
    states = cluster.slurm("squeue", "-h", "-j", ",".join(map(str, ids)), "-o", "%T").split()
    return True if states == ["RUNNING"] * len(ids) else None


def _jobs_when(story: Story, settled: bool = True) -> dict[int, SlurmJob]:
    """The client's view once Slurm has decided: tesla's and xai's first jobs running,
    xai's third pending with a reason (Slurm sets it at its next pass)."""

    def probe() -> dict[int, SlurmJob] | None:
        jobs = {j.job_id: j for j in story.cluster.cli().jobs()}
        ids = (*story.tesla, *story.xai_running)
        ok = all(jobs[i].state is JobState.RUNNING for i in ids) and (
            jobs[story.xai_over_quota].reason not in ("", "None")
        )
        return jobs if ok or not settled else None

    return wait_for("the story's jobs decided by Slurm", probe, 30)


def test_xai_job_over_its_gpu_quota_pends_with_assoc_grp_gres(story: Story) -> None:
    job = _jobs_when(story)[story.xai_over_quota]
    assert (job.state, job.reason, job.account, job.user) == (
        JobState.PENDING,
        "AssocGrpGRES",
        "xai",
        "xai1",
    )
    assert (job.gpus, job.gpu_type, job.allocations) == (2, "h100", ())
    cap = {a.account: a.gpu_limit() for a in story.cluster.cli().associations() if not a.user}
    # the two running xai jobs hold 2 + 2 = 4 = the cap: 2 more would make 6
    assert cap["xai"] == 4


def test_running_jobs_hold_the_gpus_slurm_gave_them_and_nodes_count_them(story: Story) -> None:
    jobs = _jobs_when(story)
    for job_id, gpus in ((story.tesla[0], 4), (story.tesla[1], 4), (story.xai_running[0], 2)):
        job = jobs[job_id]
        held = [i for a in job.allocations for i in a.indices]
        assert (job.gpus, len(held), len(set(held))) == (gpus, gpus, gpus)
        assert job.elapsed_s is not None and job.elapsed_s >= 0
        assert job.time_limit_s == 300  # -t 5
    held_per_node: dict[str, int] = {}
    for job in jobs.values():
        if job.state is JobState.RUNNING:
            for a in job.allocations:
                held_per_node[a.node] = held_per_node.get(a.node, 0) + len(a.indices)
    nodes = {n.name: n for n in story.cluster.cli().nodes()}
    # no other user's jobs run: what the story's jobs hold is all a node has in use
    assert held_per_node == {n: nodes[n].gpu_used for n in nodes if nodes[n].gpu_used}
    assert sum(held_per_node.values()) == 12  # 4 + 4 + 2 + 2
    assert {n.name: n.gpu_total for n in nodes.values()} == {
        "gf-h100-1": 8,
        "gf-h100-2": 8,
        "gf-a100-1": 4,
    }


def test_node_set_down_for_no_power_is_seen_with_its_reason_by_both_ways_in(
    story: Story,
) -> None:
    for source in (story.cluster.cli(), story.cluster.rest()):
        node = next(n for n in source.nodes() if n.name == DOWN_NODE)
        assert (node.state, node.reason, node.usable) == (NodeState.DOWN, "no power", False)
        assert node.gpu_total == 4


def test_slurmrestd_sees_the_same_jobs_as_the_commands(story: Story) -> None:
    _jobs_when(story)
    rest = story.cluster.rest()
    assert rest.discover() == "v0.0.38"
    ids = (*story.tesla, *story.xai_running, story.xai_over_quota)

    def view(jobs: tuple[SlurmJob, ...]) -> dict[int, tuple[object, ...]]:
        return {
            j.job_id: (j.state, j.reason, j.gpus, j.allocations) for j in jobs if j.job_id in ids
        }

    assert view(rest.jobs()) == view(story.cluster.cli().jobs())


def test_prometheus_holds_the_utilisation_of_each_running_jobs_gpus(story: Story) -> None:
    job = _jobs_when(story)[story.tesla[0]]
    (alloc,) = job.allocations

    def series() -> list[dict[str, Any]] | None:
        found = story.cluster.query(f'DCGM_FI_DEV_GPU_UTIL{{hpc_job="{job.job_id}"}}')
        return found if len(found) == 4 else None

    found = wait_for(f"4 GPU series of job {job.job_id} in Prometheus", series, 20)
    seen = sorted((s["metric"]["Hostname"], int(s["metric"]["gpu"])) for s in found)
    assert seen == [(alloc.node, i) for i in alloc.indices]
    assert {s["value"][1] for s in found} == {"73"}  # gpu_util=73
    labels = found[0]["metric"]
    assert labels["modelName"] == "NVIDIA H100 80GB HBM3"
    assert (labels["namespace"], labels["pod"]) == ("tesla", f"slurm-job-{job.job_id}")


def test_gpus_of_the_down_node_report_idle(story: Story) -> None:
    found = story.cluster.query(f'DCGM_FI_DEV_GPU_UTIL{{Hostname="{DOWN_NODE}"}}')
    assert sorted(int(s["metric"]["gpu"]) for s in found) == [0, 1, 2, 3]
    assert {s["value"][1] for s in found} == {"0"}


def test_a_test_sets_a_jobs_utilisation_and_prometheus_returns_it(story: Story) -> None:
    job_id = story.xai_running[0]
    story.cluster.util_control.write_text(f"{job_id} 35\n")

    def at_35() -> list[dict[str, Any]] | None:
        found = story.cluster.query(f'DCGM_FI_DEV_GPU_UTIL{{hpc_job="{job_id}"}} == 35')
        return found if len(found) == 2 else None

    assert len(wait_for("utilisation 35 in Prometheus", at_35, 20)) == 2


def test_accounting_lists_the_storys_jobs_and_fairshare_the_two_accounts(story: Story) -> None:
    jobs = _jobs_when(story)
    since = min(jobs[i].submit_time for i in story.tesla) - timedelta(seconds=1)
    ids = {*story.tesla, *story.xai_running, story.xai_over_quota}

    def recorded() -> dict[int, SlurmJob] | None:  # slurmdbd hears of jobs a little later
        seen = {j.job_id: j for j in story.cluster.cli().history(since) if j.job_id in ids}
        return seen if set(seen) == ids else None

    history = wait_for("the story's jobs in sacct", recorded, 30)
    assert {i: (history[i].account, history[i].gpus) for i in ids} == {
        story.tesla[0]: ("tesla", 4),
        story.tesla[1]: ("tesla", 4),
        story.xai_running[0]: ("xai", 2),
        story.xai_running[1]: ("xai", 2),
        story.xai_over_quota: ("xai", 2),
    }
    assert history[story.tesla[0]].state is JobState.RUNNING
    shares = {r.account: r.raw_shares for r in story.cluster.cli().fairshare() if not r.user}
    assert (shares["tesla"], shares["xai"]) == (60, 40)


def test_both_modes_opened_by_name_read_the_same_nodes(devcluster: DevCluster) -> None:
    commands = open_slurm("commands", env=devcluster.env)
    rest = open_slurm("rest", rest_socket=devcluster.rest_socket)
    assert isinstance(rest, SlurmRestSource) and rest.version == "v0.0.38"  # from /openapi

    def view(reader: SlurmReader) -> dict[str, tuple[object, ...]]:
        return {n.name: (n.state, n.reason, n.gpus) for n in reader.nodes()}

    assert view(commands) == view(rest)
    assert set(view(rest)) == {"gf-h100-1", "gf-h100-2", "gf-a100-1"}


def test_the_live_configuration_gives_the_weights_the_scripts_set(
    devcluster: DevCluster,
) -> None:
    config = devcluster.cli().config()
    assert (config.weights.fairshare, config.weights.age, config.weights.qos) == (
        10000,
        1000,
        1000,
    )
    assert (config.scheduler.sched_interval_s, config.scheduler.bf_interval_s) == (2, 5)
    assert config.enforce == ("associations", "limits", "qos")
