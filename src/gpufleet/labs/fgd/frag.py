"""Fragmentation measured against a target workload (FGD, Weng et al., ATC '23, §4).

The target workload is a distribution over pod shapes ``t`` with popularity ``p_t``
(:class:`TargetWorkload`). For a node ``n`` with GPUs left ``l_g`` and total left
``L = Σ_g l_g``, the fragmentation the workload sees is

    F_n(M) = Σ_t p_t · F_n(t),
    F_n(t) = L                               if t cannot run on n (no GPU fits, CPU short,
                                             model not allowed) or t asks no GPU,
           = Σ_{g : l_g < gpu_milli(t)} l_g   otherwise (the GPUs too small for t),

in milli-GPU. This is the artifact's ``NodeGpuShareFragAmountScore`` (pkg/utils/frag.go:
the sum of all quadrants but Q3 "satisfied"; a CPU-only shape counts all of L, as there).
The cluster's fragmentation is Σ_n F_n(M); FGD places a pod where F grows least.

The target distribution is the artifact's ``GetTypicalPods`` (popularity threshold 95 %,
step 1, CPU-only pods included, no GPU weighting): shapes (CPU, GPU milli, GPU count,
model) counted over the pod list, most popular first, kept until they cover 95 % of
pods, then renormalised to sum to 1.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gpufleet.labs.fgd.cluster import BoolArray, Cluster, IntArray, PodShape

FloatArray = npt.NDArray[np.float64]
POPULARITY_THRESHOLD = 0.95


@dataclass(frozen=True)
class TargetWorkload:
    """Pod shapes with their popularity; ``access`` is (shapes, nodes): model allowed."""

    cpu_milli: IntArray
    gpu_milli: IntArray
    num_gpu: IntArray
    gpu_spec: tuple[str, ...]
    weight: FloatArray

    @classmethod
    def from_pods(
        cls, pods: Iterable[PodShape], threshold: float = POPULARITY_THRESHOLD
    ) -> TargetWorkload:
        counts = Counter((p.cpu_milli, p.gpu_milli, p.num_gpu, p.gpu_spec) for p in pods)
        # most popular first; ties broken by the larger shape first, as the artifact's
        # sort.Reverse over (count, cpu, gpu milli, gpu count, model) does
        ranked = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        total = sum(counts.values())
        kept: list[tuple[tuple[int, int, int, str], int]] = []
        covered = 0
        for shape, n in ranked:
            if covered >= threshold * total:
                break
            kept.append((shape, n))
            covered += n
        return cls.of([s for s, _ in kept], [n / covered for _, n in kept])

    @classmethod
    def of(cls, shapes: list[tuple[int, int, int, str]], weights: list[float]) -> TargetWorkload:
        """From (cpu_milli, gpu_milli, num_gpu, gpu_spec) shapes and their weights."""
        return cls(
            cpu_milli=np.array([s[0] for s in shapes], dtype=np.int64),
            gpu_milli=np.array([s[1] for s in shapes], dtype=np.int64),
            num_gpu=np.array([s[2] for s in shapes], dtype=np.int64),
            gpu_spec=tuple(s[3] for s in shapes),
            weight=np.array(weights, dtype=np.float64),
        )

    def access(self, cluster: Cluster) -> BoolArray:
        """(shapes, nodes): whether each shape may use each node's GPU model."""
        return np.stack([cluster.model_mask(spec) for spec in self.gpu_spec])


def node_fragmentation(
    gpu_left: IntArray, cpu_left: IntArray, access: BoolArray, target: TargetWorkload
) -> FloatArray:
    """F_n(M) in milli-GPU for states shaped (..., 8) GPUs / (...) CPU / (shapes, ...) access.

    Leading dimensions broadcast, so one call scores many candidate states at once.
    """
    total = gpu_left.sum(axis=-1)  # (...)
    m = target.gpu_milli.reshape((-1,) + (1,) * (gpu_left.ndim))  # (T, 1.., 1)
    left = gpu_left[None]  # (1, ..., 8)
    fits_gpu = (left >= m).sum(axis=-1) >= target.num_gpu.reshape((-1,) + (1,) * (total.ndim))
    cpu_ok = cpu_left[None] >= target.cpu_milli.reshape((-1,) + (1,) * (cpu_left.ndim))
    asks_gpu = (target.gpu_milli > 0).reshape((-1,) + (1,) * (total.ndim))
    satisfied = fits_gpu & cpu_ok & access & asks_gpu
    too_small = np.where(left < m, left, 0).sum(axis=-1)  # (T, ...)
    per_shape = np.where(satisfied, too_small, total[None])
    w = target.weight.reshape((-1,) + (1,) * (total.ndim))
    return np.asarray((w * per_shape).sum(axis=0), dtype=np.float64)


def cluster_fragmentation(cluster: Cluster, target: TargetWorkload) -> float:
    """Σ_n F_n(M): GPUs (milli) free but unusable by the target workload's shapes.

    Divide by ``cluster.total_gpu_milli`` for the artifact's ``frag`` percentage, or by
    the free milli-GPU for its ``frag_ratio``.
    """
    access = target.access(cluster)
    return float(node_fragmentation(cluster.gpu_left, cluster.cpu_left, access, target).sum())
