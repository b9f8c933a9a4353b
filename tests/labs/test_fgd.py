"""The GPU-sharing packing simulator (gpufleet.labs.fgd): hand-computed policy scores on
tiny nodes, FGD's fragmentation, invariants under random placement, and the FGD
reproduction against the artifact's published results (skipped without the traces)."""

from __future__ import annotations

import numpy as np
import pytest

from gpufleet.errors import InputError, UnknownNameError
from gpufleet.labs.fgd import Cluster, PodShape, TargetWorkload, run_packing
from gpufleet.labs.fgd import packing_policy as make_policy
from gpufleet.labs.fgd.cluster import node_spec as NodeSpec
from gpufleet.labs.fgd.experiment import _pick
from gpufleet.labs.fgd.frag import cluster_fragmentation, node_fragmentation
from tests.support.traces import trace_folder

HALF = PodShape(cpu_milli=2000, memory_mib=1024, num_gpu=1, gpu_milli=500)
WHOLE = PodShape(cpu_milli=4000, memory_mib=1024, num_gpu=1, gpu_milli=1000)


def cluster(*nodes: tuple[int, int, list[int]], model: str = "T4") -> Cluster:
    """Nodes as (cpu_milli, cpu_left, GPU milli left per GPU)."""
    c = Cluster.build(
        [NodeSpec(f"n{i}", cpu, 1 << 20, len(g), model) for i, (cpu, _, g) in enumerate(nodes)]
    )
    for i, (_, left, gpus) in enumerate(nodes):
        c.cpu_left[i] = left
        c.gpu_left[i, : len(gpus)] = gpus
    return c


HALVES = TargetWorkload.of([(1000, 500, 1, "")], [1.0])


def scores(policy: str, c: Cluster, pod: PodShape, target: TargetWorkload = HALVES) -> list[int]:
    p = make_policy(policy, c, target)
    return [int(s) for s in p.scores(c, pod, np.arange(c.size))]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        # BestFit: 100(1 - ½(c - r_c)/128000 - ½(L - r_g)/8000)
        # node0: c 32000, L 300+1000 -> ⌊100(1 - 30000/256000 - 800/16000)⌋ = 83
        # node1: c 64000, L 8000     -> ⌊100(1 - 62000/256000 - 7500/16000)⌋ = 28
        ("BestFit", [83, 28]),
        # DotProd: ⌊100(1 - ½(c/128000·2000/128000 + L/8000·500/8000))⌋
        # node0: dot = 0.25·0.015625 + 0.1625·0.0625 = 0.0140625 -> 99
        # node1: dot = 0.5·0.015625 + 1·0.0625 = 0.0703125 -> 96
        ("DotProd", [99, 96]),
        # GpuPacking: node0 must use its fully free GPU (300 < 500): case 2, 49;
        # node1 entirely free, 8 GPUs: max(33 - 8, 8) = 25
        ("GpuPacking", [49, 25]),
        # GpuClustering: no pods yet, so both "idle": 25 + ⌊25(8000 - L)/8000⌋
        ("GpuClustering", [25 + 25 * 6700 // 8000, 25]),
        ("Random", [0, 0]),
    ],
)
def test_scores_half_gpu_pod_on_two_tiny_nodes(policy: str, expected: list[int]) -> None:
    c = cluster((32000, 32000, [300, 1000]), (64000, 64000, [1000] * 8))
    assert scores(policy, c, HALF) == expected


def test_packing_prefers_the_shared_gpu_with_least_left() -> None:
    # case 1: 100 - ⌊⌊100·600/1000⌋/10⌋ = 94 on node0; node1 900 left -> 100 - 9 = 91
    c = cluster((32000, 32000, [600, 1000]), (32000, 32000, [900, 1000]))
    assert scores("GpuPacking", c, HALF) == [94, 91]


def test_clustering_keeps_a_class_together() -> None:
    c = cluster((32000, 32000, [1000, 1000]), (32000, 32000, [1000, 1000]))
    c.place(HALF, 0, (0,))
    c.place(WHOLE, 1, (0,))
    # node0 holds only share-gpu: 75 + ⌊25·(8000-1500)/8000⌋ = 95; node1 other class: 21
    assert scores("GpuClustering", c, HALF) == [75 + 25 * 6500 // 8000, 25 * 7000 // 8000]


def test_fragmentation_counts_gpus_too_small_for_the_workload() -> None:
    # GPUs left 300 and 1000; workload all 0.5-GPU pods: the 300 is a fragment
    c = cluster((32000, 32000, [300, 1000]))
    assert cluster_fragmentation(c, HALVES) == pytest.approx(300)
    # CPU short for every shape: all 1300 left is fragmented (Q4, lack CPU)
    c.cpu_left[0] = 500
    assert cluster_fragmentation(c, HALVES) == pytest.approx(1300)


def test_fragmentation_of_the_papers_mixed_workload() -> None:
    # FGD paper §4 style: a node with GPUs left (200, 500, 1000); workload 50 % 0.5-GPU,
    # 50 % whole-GPU pods. 0.5-GPU: fragment 200; whole: fragment 200 + 500. F = 450.
    target = TargetWorkload.of([(1000, 500, 1, ""), (1000, 1000, 1, "")], [0.5, 0.5])
    left = np.array([[200, 500, 1000, 0, 0, 0, 0, 0]])
    f = node_fragmentation(left, np.array([8000]), np.ones((2, 1), dtype=bool), target)
    assert f.tolist() == pytest.approx([450.0])


def test_fgd_picks_the_gpu_that_grows_fragmentation_least() -> None:
    # one node, GPUs left (500, 1000): a 0.5-GPU pod on GPU 0 leaves 0 fragment;
    # on GPU 1 it leaves 500 + 500, both usable by 0.5-GPU pods: also 0 -> tie, first.
    # With a whole-GPU share of the workload, GPU 0 is strictly better.
    target = TargetWorkload.of([(1000, 500, 1, ""), (1000, 1000, 1, "")], [0.5, 0.5])
    c = cluster((32000, 32000, [500, 1000]))
    fgd = make_policy("FGD", c, target)
    assert fgd.gpus(c, HALF, 0, np.random.default_rng(0)) == (0,)
    # Δ = F_before - F_after = 0.5·500 - 0 = 250 -> ⌊100·sigmoid(0.25)⌋ = 56
    assert scores("FGD", c, HALF, target) == [56]


def test_fgd_prefers_the_node_already_fragmented() -> None:
    target = TargetWorkload.of([(1000, 1000, 1, "")], [1.0])
    c = cluster((32000, 32000, [500, 1000]), (32000, 32000, [1000, 1000]))
    s = scores("FGD", c, HALF, target)
    # node0: 500 fragment filled -> Δ = +500 -> 62; node1: new 500 fragment -> Δ = -500 -> 37
    assert s == [62, 37]


def test_equal_scores_go_to_the_node_first_in_the_runs_order() -> None:
    # nodes 1 and 3 tie; the run's order ranks node 3 (rank 0) before node 1 (rank 2)
    rank = np.array([1, 2, 3, 0])
    rng = np.random.default_rng(0)
    assert _pick(np.array([1, 3]), rank, False, rng) == 3
    assert _pick(np.array([2]), rank, False, rng) == 2


def test_random_draws_among_equal_scores_instead() -> None:
    rank = np.array([1, 2, 3, 0])
    rng = np.random.default_rng(0)
    picks = {_pick(np.array([0, 1, 2, 3]), rank, True, rng) for _ in range(60)}
    assert picks == {0, 1, 2, 3}  # each has 1/4 per draw: all four turn up in 60 draws
    assert make_policy("Random", cluster((1000, 1000, [1000])), HALVES).draws_node


def test_unknown_policy_lists_the_valid_names() -> None:
    c = cluster((1000, 1000, [1000]))
    with pytest.raises(UnknownNameError, match="FGD"):
        make_policy("Tetris", c, HALVES)


def test_a_sharing_pod_asks_one_gpu() -> None:
    with pytest.raises(InputError):
        PodShape(1000, 1, num_gpu=2, gpu_milli=500)


@pytest.mark.parametrize(
    "policy", ["Random", "DotProd", "GpuClustering", "GpuPacking", "BestFit", "FGD"]
)
@pytest.mark.parametrize("seed", [1, 2])
def test_random_packing_keeps_every_limit(
    policy: str, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(seed)
    nodes = [
        NodeSpec(
            f"n{i}",
            int(rng.choice([8000, 16000])),
            int(rng.choice([4096, 8192])),
            int(rng.choice([1, 2, 4, 8])),
            str(rng.choice(["T4", "V100"])),
        )
        for i in range(12)
    ]
    pods = [
        PodShape(
            int(rng.integers(0, 6000)),
            int(rng.integers(0, 3000)),
            *[(0, 0), (1, int(rng.integers(50, 1000))), (1, 1000), (2, 1000)][int(rng.integers(4))],
            gpu_spec=str(rng.choice(["", "T4", "V100"])),
        )
        for _ in range(80)
    ]
    placed: list[tuple[PodShape, int, tuple[int, ...]]] = []
    import gpufleet.labs.fgd.cluster as cl

    original = cl.Cluster.place

    def spy(self: Cluster, pod: PodShape, node: int, gpus: tuple[int, ...]) -> None:
        original(self, pod, node, gpus)
        placed.append((pod, node, gpus))
        assert (self.gpu_left >= 0).all() and (self.gpu_left <= 1000).all()
        assert (self.cpu_left >= 0).all() and (self.mem_left >= 0).all()
        if pod.gpu_spec and pod.num_gpu:  # the model constraint binds GPU pods only
            assert self.models[node] in pod.gpu_spec.split("|")
        assert len(set(gpus)) == len(gpus)
        assert all(g < self.gpu_count[node] for g in gpus)

    monkeypatch.setattr(cl.Cluster, "place", spy)
    result = run_packing(nodes, pods, policy, seed, ratio=2.0)
    assert result.pods_placed == len(placed)
    assert 0 <= result.allocated_pct <= 100


REPRO_SEEDS = (42, 43)


@pytest.mark.parametrize(
    "policy", ["Random", "DotProd", "GpuClustering", "GpuPacking", "BestFit", "FGD"]
)
def test_fgd_reproduction_against_published(policy: str) -> None:
    from gpufleet.inputs.traces.loaders.openb import reference_results
    from gpufleet.labs.fgd.openb import read_gpu_nodes, read_pods

    folder = trace_folder("alibaba-openb-v2023")
    nodes, pods = read_gpu_nodes(folder), read_pods(folder)
    published = reference_results(folder, metric="allo", arrived_pct=130)[policy]
    # Measured with seeds 42, 43 (ours vs published): Random 87.44 vs 87.47, DotProd
    # 90.93 vs 90.85, GpuClustering 91.49 vs 91.88, GpuPacking 91.66 vs 92.00, BestFit
    # 93.10 vs 93.08, FGD 95.52 vs 95.39. Two seeds, so 1 pp of room.
    ours = np.mean([run_packing(nodes, pods, policy, s).allocated_pct for s in REPRO_SEEDS])
    assert abs(ours - published) < 1.0
