"""Placement policies for GPU-sharing clusters, as defined in the FGD artifact
(hkust-adsl/kubernetes-scheduler-simulator, ``pkg/simulator/plugin/*_score.go``; Weng et
al., ATC '23, §5 baselines).

Every policy gives each feasible node an integer score in [0, 100] (the Kubernetes
scheduler-framework range; the artifact truncates to int64, and those truncations create
ties) and the scheduler takes the best node, ties going to the node first in an order
drawn once per run (:mod:`.experiment` explains why); Random instead draws its node
uniformly among the feasible ones, as the artifact's ``RandomScore`` does in ``PreScore``
(:attr:`PackingPolicy.draws_node`). Then the policy picks the GPU(s) on that node: a pod asking
whole GPUs takes the first fully free ones; a sharing pod takes the best-fit GPU (least left
that still fits) except under Random (a random fitting GPU) and FGD (its own choice).

Notation: ``c`` = node CPU left, ``L`` = node milli-GPU left (sum over GPUs), ``r_c``,
``r_g`` = the pod's CPU and total milli-GPU; MaxSpecCpu = 128000, MaxSpecGpu = 8000.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from gpufleet.labs.common import LabPolicies
from gpufleet.labs.fgd.cluster import (
    MAX_GPUS,
    MILLI,
    Cluster,
    IntArray,
    PodShape,
    best_fit_gpu,
    exclusive_gpus,
)
from gpufleet.labs.fgd.frag import FloatArray, TargetWorkload, node_fragmentation

MAX_SPEC_CPU = 128_000
MAX_SPEC_GPU = 8_000
MAX_SCORE = 100


class PackingPolicy(Protocol):
    """Scores nodes for a pod; picks GPUs on the chosen node. Reads state, never writes.

    ``draws_node``: the policy's node is a uniform draw among the best scores (Random),
    not the first of them in the run's node order.
    """

    draws_node: bool

    def scores(self, cluster: Cluster, pod: PodShape, idx: IntArray) -> IntArray:
        """Scores of the (feasible) nodes ``idx``, integers in [0, 100], higher better."""
        ...

    def gpus(
        self, cluster: Cluster, pod: PodShape, node: int, rng: np.random.Generator
    ) -> tuple[int, ...]:
        """The GPU slots of ``node`` the pod gets."""
        ...


def _default_gpus(cluster: Cluster, pod: PodShape, node: int) -> tuple[int, ...]:
    left = cluster.gpu_left[node]
    if not pod.num_gpu:
        return ()
    if pod.shares_gpu:
        return (best_fit_gpu(left, pod.gpu_milli),)
    return exclusive_gpus(left, pod.num_gpu)


class BestFitGpu:
    """Base: the artifact's "best" GPU selection (gpuSelMethod best)."""

    draws_node = False

    def gpus(
        self, cluster: Cluster, pod: PodShape, node: int, rng: np.random.Generator
    ) -> tuple[int, ...]:
        return _default_gpus(cluster, pod, node)


class RandomPolicy:
    """Random (``random_score.go``): one feasible node uniformly at random (every node
    scores the same and ``draws_node`` makes the pick a uniform draw, as the artifact's
    ``PreScore`` draws one node and scores it 100), and a random fitting GPU for a sharing
    pod (``allocateGpuIdBasedOnRandomFit``)."""

    draws_node = True

    def scores(self, cluster: Cluster, pod: PodShape, idx: IntArray) -> IntArray:
        return np.zeros(len(idx), dtype=np.int64)

    def gpus(
        self, cluster: Cluster, pod: PodShape, node: int, rng: np.random.Generator
    ) -> tuple[int, ...]:
        if pod.shares_gpu:
            fits = np.flatnonzero(cluster.gpu_left[node] >= pod.gpu_milli)
            return (int(fits[rng.integers(len(fits))]),)
        return _default_gpus(cluster, pod, node)


class DotProdPolicy(BestFitGpu):
    """DotProd, Tetris's alignment heuristic (Grandl et al., SIGCOMM '14) as the artifact
    runs it (``dot_product_score.go``, dimExtMethod merge, normMethod max)::

        score = ⌊100 · (1 − ½ (c/MaxSpecCpu · r_c/MaxSpecCpu + L/MaxSpecGpu · r_g/MaxSpecGpu))⌋

    i.e. the node whose free (CPU, GPU) vector is least aligned with the request wins.
    """

    def scores(self, cluster: Cluster, pod: PodShape, idx: IntArray) -> IntArray:
        c = cluster.cpu_left[idx] / MAX_SPEC_CPU
        g = cluster.gpu_left[idx].sum(axis=1) / MAX_SPEC_GPU
        dot = c * (pod.cpu_milli / MAX_SPEC_CPU) + g * (pod.total_gpu_milli / MAX_SPEC_GPU)
        return np.asarray(np.trunc(MAX_SCORE * (1 - dot / 2)), dtype=np.int64)


class GpuClusteringPolicy(BestFitGpu):
    """GpuClustering (``gpu_clustering_score.go``): keep pods of one class together, the
    classes being no-gpu, share-gpu and n-gpu. With ``u = ⌊25 (MaxSpecGpu − L) / MaxSpecGpu⌋``:
    the node holds only the pod's class → 75 + u; the pod's class among others → 50 + u;
    an empty node → 25 + u; other classes only → u. A CPU-only pod scores 0 everywhere.
    """

    def scores(self, cluster: Cluster, pod: PodShape, idx: IntArray) -> IntArray:
        if not pod.num_gpu:
            return np.zeros(len(idx), dtype=np.int64)
        used = (MAX_SCORE // 4) * (MAX_SPEC_GPU - cluster.gpu_left[idx].sum(axis=1))
        base = used // MAX_SPEC_GPU
        tag = pod.affinity
        bonus = np.empty(len(idx), dtype=np.int64)
        for i, n in enumerate(idx):
            aff = cluster.affinity[n]
            if aff.get(tag, 0) > 0:
                bonus[i] = 75 if len(aff) == 1 else 50
            else:
                bonus[i] = 25 if not aff else 0
        return np.asarray(base + bonus, dtype=np.int64)


class GpuPackingPolicy(BestFitGpu):
    """GpuPacking (``gpu_packing_score.go``), from high to low:

    1. the pod fits on partly used GPUs: 100 − ⌊Σ_used-gpus ⌊100 l_g / 1000⌋ / 10⌋, at least 50;
    2. it needs fully free GPUs of a partly used node: max(50 − GPUs taken, 33);
    3. the node is entirely free: max(33 − free GPUs, free GPUs).

    The GPUs used are the least-left ones that fit. A CPU-only pod scores 0 everywhere.
    """

    def scores(self, cluster: Cluster, pod: PodShape, idx: IntArray) -> IntArray:
        if not pod.num_gpu:
            return np.zeros(len(idx), dtype=np.int64)
        left = cluster.gpu_left[idx]
        free = (left == MILLI).sum(axis=1)
        all_free = free == cluster.gpu_count[idx]
        case3 = np.maximum(MAX_SCORE // 3 - free, free)
        if pod.shares_gpu:
            pick = np.where(left >= pod.gpu_milli, left, MILLI + 1).min(axis=1)
            case1 = np.maximum(MAX_SCORE - (pick * 100 // MILLI) // 10, MAX_SCORE // 2)
            case2 = max(MAX_SCORE // 2 - 1, MAX_SCORE // 3)
            partly = np.where(pick == MILLI, case2, case1)
        else:
            partly = np.full(len(idx), max(MAX_SCORE // 2 - pod.num_gpu, MAX_SCORE // 3))
        return np.asarray(np.where(all_free, case3, partly), dtype=np.int64)


class BestFitPolicy(BestFitGpu):
    """BestFit (``best_fit_score.go``): the node left with the least free resources::

    score = ⌊100 · (1 − ½ (c − r_c)/MaxSpecCpu − ½ (L − r_g)/MaxSpecGpu)⌋
    """

    def scores(self, cluster: Cluster, pod: PodShape, idx: IntArray) -> IntArray:
        c = (cluster.cpu_left[idx] - pod.cpu_milli) / MAX_SPEC_CPU
        g = (cluster.gpu_left[idx].sum(axis=1) - pod.total_gpu_milli) / MAX_SPEC_GPU
        return np.asarray(np.trunc(MAX_SCORE * (1 - 0.5 * c - 0.5 * g)), dtype=np.int64)


def _sigmoid_score(delta: FloatArray) -> IntArray:
    return np.trunc(MAX_SCORE / (1 + np.exp(-delta / 1000))).astype(np.int64)


class FGDPolicy:
    """FGD, Fragmentation Gradient Descent (Weng et al., ATC '23, Alg. 1; ``fgd_score.go``).

    With F_n(M) the node's fragmentation against the target workload M
    (:func:`~gpufleet.labs.fgd.frag.node_fragmentation`) and n' the node after placing the
    pod, ``Δ = F_n(M) − F_n'(M)`` and::

        score = ⌊100 · sigmoid(Δ / 1000)⌋

    so the node (and, for a sharing pod, the GPU) whose fragmentation grows least wins.
    A sharing pod tries every GPU that fits and keeps the first best; a whole-GPU pod
    takes fully free GPUs (which ones does not change F).
    """

    draws_node = False

    def __init__(self, target: TargetWorkload, cluster: Cluster) -> None:
        self.target = target
        self.access = target.access(cluster)

    def _candidates(self, cluster: Cluster, pod: PodShape, idx: IntArray) -> IntArray:
        """(nodes, GPUs) score of putting a sharing pod on each GPU; −1 where it does not fit."""
        left = cluster.gpu_left[idx]
        cpu = cluster.cpu_left[idx]
        before = node_fragmentation(left, cpu, self.access[:, idx], self.target)
        after_left = left[:, None, :] - pod.gpu_milli * np.eye(MAX_GPUS, dtype=np.int64)[None]
        after_cpu = np.repeat((cpu - pod.cpu_milli)[:, None], MAX_GPUS, axis=1)
        after = node_fragmentation(after_left, after_cpu, self.access[:, idx, None], self.target)
        score = _sigmoid_score(before[:, None] - after)
        return np.where(left >= pod.gpu_milli, score, -1)

    def scores(self, cluster: Cluster, pod: PodShape, idx: IntArray) -> IntArray:
        if pod.shares_gpu:
            return np.asarray(self._candidates(cluster, pod, idx).max(axis=1), dtype=np.int64)
        left = cluster.gpu_left[idx]
        cpu = cluster.cpu_left[idx]
        access = self.access[:, idx]
        before = node_fragmentation(left, cpu, access, self.target)
        after_left = left
        if pod.num_gpu:
            free = left == MILLI
            take = free & (np.cumsum(free, axis=1) <= pod.num_gpu)
            after_left = left - MILLI * take
        after = node_fragmentation(after_left, cpu - pod.cpu_milli, access, self.target)
        return _sigmoid_score(before - after)

    def gpus(
        self, cluster: Cluster, pod: PodShape, node: int, rng: np.random.Generator
    ) -> tuple[int, ...]:
        if pod.shares_gpu:
            cand = self._candidates(cluster, pod, np.array([node]))[0]
            return (int(np.argmax(cand)),)
        return _default_gpus(cluster, pod, node)


Builder = Callable[[Cluster, TargetWorkload], PackingPolicy]


def _stateless(policy: Callable[[], PackingPolicy]) -> Builder:
    """The builder of a policy that needs neither the cluster nor the target workload."""
    return lambda cluster, target: policy()


#: In the artifact's order (its policies are numbered 01-Random to 06-FGD), which the
#: experiment's tables keep.
FGD_POLICIES: LabPolicies[Builder] = LabPolicies("FGD lab policy")
FGD_POLICIES.define("Random", "a uniformly random feasible node", _stateless(RandomPolicy))
FGD_POLICIES.define(
    "DotProd",
    "the node whose free (CPU, GPU) aligns least with the request (Tetris)",
    _stateless(DotProdPolicy),
)
FGD_POLICIES.define(
    "GpuClustering",
    "pods of one class (no-GPU, shared-GPU, n-GPU) together on nodes",
    _stateless(GpuClusteringPolicy),
)
FGD_POLICIES.define(
    "GpuPacking",
    "partly used GPUs first, then free GPUs of used nodes, then empty nodes",
    _stateless(GpuPackingPolicy),
)
FGD_POLICIES.define(
    "BestFit", "the node left with the least free CPU and GPU", _stateless(BestFitPolicy)
)
FGD_POLICIES.define(
    "FGD",
    "fragmentation gradient descent: the node and GPUs that grow the expected "
    "fragmentation least (Weng et al., ATC '23)",
    lambda cluster, target: FGDPolicy(target, cluster),
)


def packing_policy(name: str, cluster: Cluster, target: TargetWorkload) -> PackingPolicy:
    """A new policy registered as ``name`` for ``cluster`` and the ``target`` workload; an
    unknown name lists the valid ones."""
    return FGD_POLICIES.builder(name)(cluster, target)


__all__ = ["FGD_POLICIES", "PackingPolicy", "packing_policy"]
