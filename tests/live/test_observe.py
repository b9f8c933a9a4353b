"""The observation, hand-computed from the recorded story (story_samples.py: Slurm and
Prometheus at one instant) and from the hand-written Kubernetes snapshots.

The story's register (REGISTERED): tesla holds 8 H100 at memphis (gf-h100-1) and 4 A100
at buffalo (gf-a100-1, DOWN "no power"); xai holds 8 H100 at colossus (gf-h100-2).
On gf-h100-1: tesla's job 70 holds GPUs 4-7 at 73 %, xai's 72 GPUs 0-1 at 90 %, xai's 73
GPUs 2-3 at 4 %. On gf-h100-2: tesla's job 71 holds GPUs 0-3 at 73 %.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from gpufleet.domain import EntityId, GpuTypeName, Reason, SiteId
from gpufleet.live.facts import SlurmState
from gpufleet.live.kubernetes import KubernetesSource
from gpufleet.live.mapping import ClusterMapping, load_mapping, parse_mapping
from gpufleet.live.observation import Capacity, Demand, Observation, Registered, SourceFailure
from gpufleet.live.observe import observe
from gpufleet.live.prometheus import GpuSample, HttpAnswer, ReplayTransport
from gpufleet.live.reading import read_kubernetes, read_prometheus, read_slurm
from gpufleet.live.runner import ReplayRunner
from tests.live.story_samples import PROMETHEUS, READ_AT, prometheus, slurm, story_runner

MAPPINGS = Path(__file__).parent / "samples" / "mapping"
H100, A100 = GpuTypeName("H100-SXM"), GpuTypeName("A100-80GB")


def reg(entity: str, site: str, gpu_type: str, gpus: int) -> Registered:
    return Registered(EntityId(entity), SiteId(site), GpuTypeName(gpu_type), gpus)


REGISTERED = (
    reg("tesla", "memphis", H100, 8),
    reg("tesla", "buffalo", A100, 4),
    reg("xai", "colossus", H100, 8),
)


def story_mapping() -> ClusterMapping:
    return load_mapping(MAPPINGS / "devcluster.yaml")


def story(
    registered: tuple[Registered, ...] = REGISTERED,
    mapping: ClusterMapping | None = None,
    threshold: float = 10.0,
    window_s: int | None = None,
) -> Observation:
    return observe(
        READ_AT,
        mapping or story_mapping(),
        registered,
        slurm=read_slurm(slurm()),
        gpus=read_prometheus(prometheus(), util_window_s=window_s),
        busy_threshold_pct=threshold,
    )


def row(obs: Observation, entity: str, site: str, gpu_type: str) -> Capacity:
    found = obs.capacity_of(entity, site, gpu_type)
    assert found is not None
    return found


def test_tesla_memphis_is_full_and_xais_idle_job_is_allocated_but_idle() -> None:
    memphis = row(story(), "tesla", "memphis", H100)
    # seen = up = 8 GPUs of gf-h100-1; allocated = 4 (job 70) + 2 (72) + 2 (73) = 8
    assert (memphis.registered, memphis.seen, memphis.up, memphis.allocated) == (8, 8, 8, 8)
    # busy = 4 (job 70 at 73 %) + 2 (job 72 at 90 %) = 6; idle = 2 (job 73 at 4 % < 10 %)
    assert (memphis.busy, memphis.idle, memphis.unmeasured, memphis.unallocated) == (6, 2, 0, 0)
    assert (memphis.down, memphis.drained, memphis.stranded) == (0, 0, 0)


def test_xais_colossus_lends_half_to_tesla_and_has_half_unallocated() -> None:
    colossus = row(story(), "xai", "colossus", H100)
    # job 71 (tesla) holds 4 of gf-h100-2's 8 at 73 %: unallocated = 8 - 4
    assert (colossus.seen, colossus.allocated, colossus.busy, colossus.unallocated) == (8, 4, 4, 4)


def test_the_down_node_strands_all_of_buffalo_with_slurms_reason() -> None:
    obs = story()
    buffalo = row(obs, "tesla", "buffalo", A100)
    # gf-a100-1's 4 A100 are seen and down: stranded = down 4 + drained 0 + not seen 0
    assert (buffalo.seen, buffalo.up, buffalo.down, buffalo.stranded) == (4, 0, 4, 4)
    (down,) = obs.down_nodes
    assert (down.node, down.gpus, down.state, down.reason, down.pool) == (
        "gf-a100-1",
        4,
        "down",
        "no power",
        "buffalo-a100",
    )


def test_each_program_uses_gpus_on_whose_site_with_how_many_busy() -> None:
    use = {(u.program, u.holder): (u.allocated, u.busy, u.idle) for u in story().usage}
    assert use == {
        ("fsd-training", "tesla"): (4, 4, 0),  # job 70 on gf-h100-1
        ("fsd-training", "xai"): (4, 4, 0),  # job 71 on gf-h100-2
        ("grok", "tesla"): (4, 2, 2),  # jobs 72 (busy) and 73 (idle) on gf-h100-1
    }


def test_pending_demand_carries_gpufleets_reason_and_slurms() -> None:
    demand: dict[tuple[str | None, str | None, Reason | None], Demand] = {
        (d.program, d.gpu_type, d.reason): d for d in story().demand
    }
    quota = demand[("grok", H100, Reason.QUOTA)]
    assert (quota.gpus, quota.jobs, quota.scheduler_reasons) == (2, 1, ("AssocGrpGRES",))
    resources = demand[("fsd-training", H100, Reason.CAPACITY)]
    assert (resources.gpus, resources.scheduler_reasons) == (8, ("Resources",))
    # Slurm says Resources for the A100 job too; its partition's A100 are all on the down
    # node: capacity down (not "no GPU of the type": they exist)
    down = demand[("fsd-training", A100, Reason.CAPACITY_DOWN)]
    assert (down.gpus, down.scheduler_reasons) == (2, ("Resources",))
    assert len(demand) == 3


def test_a_partition_with_no_gpu_of_the_type_at_all_is_gpu_type_not_available() -> None:
    state = read_slurm(slurm())
    assert isinstance(state, SlurmState)
    without = replace(state, nodes=tuple(n for n in state.nodes if n.name != "gf-a100-1"))
    obs = observe(READ_AT, story_mapping(), REGISTERED, slurm=without)
    reasons = {(str(d.program), str(d.gpu_type)): d.reason for d in obs.demand}
    # partition a100 lists no node now: Slurm's Resources for the A100 job stays
    # "no GPU of any type it allows", not capacity down
    assert reasons[("fsd-training", A100)] is Reason.NO_GPU_TYPE


@pytest.mark.parametrize(
    ("threshold", "busy", "idle"),
    [(10.0, 6, 2), (4.0, 8, 0), (73.0, 6, 2), (73.5, 2, 6), (95.0, 0, 8)],
    ids=["default", "at-4-counts-4", "at-73-counts-73", "above-73", "above-all"],
)
def test_busy_means_utilisation_at_or_above_the_threshold(
    threshold: float, busy: int, idle: int
) -> None:
    memphis = row(story(threshold=threshold), "tesla", "memphis", H100)
    # gf-h100-1 holds 4 GPUs at 73 %, 2 at 90 %, 2 at 4 %
    assert (memphis.busy, memphis.idle) == (busy, idle)


def test_a_window_mean_judges_busy_on_the_whole_window() -> None:
    # 30 s means: job 70 73x8/30 = 19.5, job 72 90x8/30 = 24.0, job 73 (90x2+4x6)/30 = 6.8
    memphis = row(story(window_s=30, threshold=20.0), "tesla", "memphis", H100)
    assert (memphis.busy, memphis.idle) == (2, 6)  # only job 72's 24.0 reaches 20


def test_a_register_that_lists_more_than_is_seen_counts_the_rest_stranded() -> None:
    registered = (reg("tesla", "memphis", H100, 12), *REGISTERED[1:])
    memphis = row(story(registered), "tesla", "memphis", H100)
    # not seen = 12 registered - 8 seen = 4; stranded = 0 down + 0 drained + 4
    assert (memphis.not_seen, memphis.stranded) == (4, 4)


def test_a_registered_pool_no_scheduler_lists_is_all_not_seen() -> None:
    registered = (*REGISTERED, reg("tesla", "new-site", "B200", 16))
    new = row(story(registered), "tesla", "new-site", "B200")
    assert (new.seen, new.up, new.not_seen, new.stranded) == (0, 0, 16, 16)


def test_a_prometheus_that_fails_leaves_busy_unknown_and_the_rest_counted() -> None:
    transport = ReplayTransport.from_directory(PROMETHEUS)
    for key in list(transport.answers):
        transport.answers[key] = HttpAnswer(503, "Service Unavailable")
    gpus = read_prometheus(prometheus(transport))
    assert isinstance(gpus, SourceFailure)
    obs = observe(READ_AT, story_mapping(), REGISTERED, slurm=read_slurm(slurm()), gpus=gpus)
    memphis = row(obs, "tesla", "memphis", H100)
    assert (memphis.allocated, memphis.busy, memphis.idle, memphis.unmeasured) == (
        8,
        None,
        None,
        None,
    )
    (failure,) = obs.failures
    assert failure.source == "prometheus"
    assert failure.asked.endswith("/api/v1/query?query=DCGM_FI_DEV_GPU_UTIL")
    assert "HTTP 503" in failure.error
    assert len(obs.demand) == 3  # Slurm's part is all there


def test_a_slurm_that_fails_leaves_capacity_unknown_but_keeps_the_register() -> None:
    runner = story_runner()
    del runner.outputs["squeue --json"]
    obs = observe(
        READ_AT,
        story_mapping(),
        REGISTERED,
        slurm=read_slurm(slurm(runner)),
        gpus=read_prometheus(prometheus()),
    )
    buffalo = row(obs, "tesla", "buffalo", A100)
    assert (buffalo.registered, buffalo.seen, buffalo.down, buffalo.stranded) == (
        4,
        None,
        None,
        None,
    )
    assert obs.demand == () and obs.usage == ()
    (failure,) = obs.failures
    assert (failure.source, failure.asked) == ("slurm", "squeue --json")


def test_an_account_the_mapping_lacks_is_recorded_and_its_use_kept_unnamed() -> None:
    text = (
        (MAPPINGS / "devcluster.yaml")
        .read_text()
        .replace("    xai: {entity: xai, program: grok}\n", "")
    )
    obs = story(mapping=parse_mapping(text, "m.yaml"))
    unmapped = {(u.kind, u.name): u.gpus for u in obs.unmapped}
    assert unmapped == {("account", "xai"): 2 + 2 + 2}  # jobs 72, 73 and the pending 74
    anonymous = [u for u in obs.usage if u.program is None]
    assert [(u.holder, u.allocated) for u in anonymous] == [("tesla", 4)]
    # the GPUs still count where they are: memphis is still all allocated
    assert row(obs, "tesla", "memphis", H100).allocated == 8


def test_gpus_dcgm_reports_on_a_node_no_scheduler_lists_are_unscheduled() -> None:
    runner = story_runner()
    sinfo = json.loads(runner.outputs["sinfo --json"])
    sinfo["nodes"] = [n for n in sinfo["nodes"] if n["name"] != "gf-h100-2"]
    runner.outputs["sinfo --json"] = json.dumps(sinfo)
    obs = observe(
        READ_AT,
        story_mapping(),
        REGISTERED,
        slurm=read_slurm(slurm(runner)),
        gpus=read_prometheus(prometheus()),
    )
    colossus = row(obs, "xai", "colossus", H100)
    # gf-h100-2's 8 GPUs: placed by the glob rule, typed by DCGM's modelName, in no
    # scheduler; registered 8, seen 0
    assert (colossus.seen, colossus.unscheduled, colossus.not_seen) == (0, 8, 8)


# --- Kubernetes and Kueue ------------------------------------------------------------


def kube() -> Observation:
    source = KubernetesSource.from_snapshots(Path(__file__).parent / "samples" / "kubernetes")
    mapping = load_mapping(MAPPINGS / "kubernetes.yaml")
    registered = (reg("tesla", "council-bluffs", H100, 32),)
    return observe(READ_AT, mapping, registered, kubernetes=read_kubernetes(source))


def test_kubernetes_nodes_count_up_down_and_cordoned_with_their_reasons() -> None:
    obs = kube()
    cb = row(obs, "tesla", "council-bluffs", H100)
    # 4 nodes x 8: pool-1 and pool-2 up, pool-3 not ready, pool-4 cordoned
    assert (cb.seen, cb.up, cb.down, cb.drained, cb.stranded) == (32, 16, 8, 8, 16)
    # allocated = 8 (fsd-pretrain-0) + 4 (fsd-finetune-0) + 2 (grok-eval-0); the
    # finished pod holds none; unallocated = 16 up - 14
    assert (cb.allocated, cb.unallocated) == (14, 2)
    assert (cb.busy, cb.idle) == (None, None)  # no telemetry asked
    reasons = {(d.node, d.state): d.reason for d in obs.down_nodes}
    assert reasons == {
        ("gke-a3-pool-3", "down"): "NodeStatusUnknown: Kubelet stopped posting node status.",
        ("gke-a3-pool-4", "drained"): "cordoned (spec.unschedulable)",
    }


def test_kueue_pending_workloads_are_demand_waiting_for_quota() -> None:
    demand: dict[tuple[str | None, Reason | None], Demand] = {
        (d.program, d.reason): d for d in kube().demand
    }
    quota = demand[("grok", Reason.QUOTA)]
    # grok-sft 2 pods x 2 + grok-pretrain 2 pods x 8 = 20 GPUs of xai-cq's one flavor
    assert (quota.gpus, quota.jobs, quota.gpu_type, quota.entity) == (20, 2, H100, "xai")
    assert any("2 more needed" in r for r in quota.scheduler_reasons)
    unplaced = demand[(None, Reason.CAPACITY)]  # research/notebook-0: unmapped namespace
    assert (unplaced.gpus, unplaced.gpu_type) == (4, None)


def test_an_unmapped_namespace_is_recorded_with_its_gpus() -> None:
    assert [(u.kind, u.name, u.gpus) for u in kube().unmapped] == [("namespace", "research", 4)]


def test_demand_rows_are_typed_and_sorted() -> None:
    rows = kube().demand
    assert all(isinstance(d, Demand) for d in rows)
    assert [d.program for d in rows] == sorted((d.program for d in rows), key=str)


def test_a_gpu_type_the_mapping_does_not_name_is_recorded_and_not_counted() -> None:
    text = (MAPPINGS / "devcluster.yaml").read_text().replace("  a100: A100-80GB\n", "")
    obs = story(mapping=parse_mapping(text, "m.yaml"))
    unmapped = {(u.kind, u.name): u.gpus for u in obs.unmapped}
    # gf-a100-1's 4 GPUs and the pending A100 job's 2; DCGM's modelName is still mapped
    assert unmapped == {("GPU type", "a100"): 4 + 2}
    buffalo = row(obs, "tesla", "buffalo", A100)
    assert (buffalo.registered, buffalo.seen, buffalo.not_seen) == (4, 0, 4)


def test_gpus_a_node_has_but_cannot_allocate_are_down_as_unhealthy() -> None:
    runner = ReplayRunner.from_directory(Path(__file__).parent / "samples" / "kubernetes")
    command = "kubectl get nodes -o json"
    nodes = json.loads(runner.outputs[command])
    nodes["items"][0]["status"]["allocatable"]["nvidia.com/gpu"] = "6"
    runner.outputs[command] = json.dumps(nodes)
    mapping = load_mapping(MAPPINGS / "kubernetes.yaml")
    obs = observe(READ_AT, mapping, (), kubernetes=read_kubernetes(KubernetesSource(runner)))
    cb = row(obs, "tesla", "council-bluffs", H100)
    # pool-1: 6 up + 2 unhealthy; up = 6 + 8 (pool-2) = 14; down = 2 + 8 (pool-3)
    assert (cb.seen, cb.up, cb.down, cb.drained) == (32, 14, 10, 8)
    unhealthy = [d for d in obs.down_nodes if d.node == "gke-a3-pool-1"]
    assert [(d.gpus, d.reason) for d in unhealthy] == [
        (2, "2 of 8 GPUs not allocatable (unhealthy)")
    ]


def test_the_accounts_gpu_caps_in_force_are_observed_per_program() -> None:
    quotas = {(q.program, q.gpu_type): q.gpus for q in story().quotas}
    # scripts/devcluster/accounts.sh: xai GrpTRES gres/gpu=4 (all types); tesla no cap
    assert quotas == {("grok", None): 4, ("fsd-training", None): None}
    assert {q.scope for q in story().quotas} == {"account xai", "account tesla"}


def test_kueue_nominal_quotas_are_observed_per_program_and_flavor() -> None:
    quotas = {(q.program, q.scope): (q.gpu_type, q.gpus, q.borrowing_limit) for q in kube().quotas}
    assert quotas == {
        ("fsd-training", "ClusterQueue tesla-cq flavor h100"): (H100, 16, None),
        ("grok", "ClusterQueue xai-cq flavor h100"): (H100, 4, 0),
    }


def dcgm(node: str, gpu: int, util: float, namespace: str = "", pod: str = "") -> GpuSample:
    return GpuSample(
        node,
        gpu,
        f"GPU-{node}-{gpu}",
        "NVIDIA H100 80GB HBM3",
        util,
        None,
        None,
        namespace,
        pod,
        "trainer" if pod else "",
        READ_AT,
    )


def test_kubernetes_pods_gpus_are_judged_by_dcgms_pod_labels() -> None:
    source = KubernetesSource.from_snapshots(Path(__file__).parent / "samples" / "kubernetes")
    samples = (
        *(
            dcgm("gke-a3-pool-1", g, 50.0 if g < 6 else 5.0, "fsd", "fsd-pretrain-0")
            for g in range(8)
        ),
        dcgm("gke-a3-pool-2", 4, 0.0, "grok", "grok-eval-0"),
        dcgm("gke-a3-pool-2", 5, 0.0, "grok", "grok-eval-0"),
        *(dcgm("gke-a3-pool-2", g, 0.0) for g in (6, 7)),  # free GPUs: no pod
    )
    mapping = load_mapping(MAPPINGS / "kubernetes.yaml")
    obs = observe(READ_AT, mapping, (), kubernetes=read_kubernetes(source), gpus=samples)
    use = {u.program: (u.allocated, u.busy, u.idle, u.unmeasured) for u in obs.usage}
    # fsd: fsd-pretrain-0's 8 (6 at 50 % busy, 2 at 5 % idle) + fsd-finetune-0's 4 with
    # no sample (unmeasured); grok: grok-eval-0's 2 at 0 % (idle)
    assert use == {"fsd-training": (12, 6, 2, 4), "grok": (2, 0, 2, 0)}


def test_a_failing_kubernetes_beside_a_working_slurm_is_recorded_and_slurm_counted() -> None:
    runner = ReplayRunner({})  # nothing recorded: kubectl "cannot be run"
    kubernetes = read_kubernetes(KubernetesSource(runner))
    assert isinstance(kubernetes, SourceFailure)
    obs = observe(
        READ_AT,
        story_mapping(),
        REGISTERED,
        slurm=read_slurm(slurm()),
        kubernetes=kubernetes,
        gpus=read_prometheus(prometheus()),
    )
    assert [(f.source, f.asked) for f in obs.failures] == [
        ("kubernetes", "kubectl get nodes -o json")
    ]
    assert row(obs, "tesla", "memphis", H100).busy == 6  # as without Kubernetes
