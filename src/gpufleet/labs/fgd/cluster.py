"""The state of a GPU-sharing cluster, as numpy arrays over nodes.

Units are integers, as in the FGD artifact: milli-CPU, MiB, milli-GPU (1 GPU = 1000).
A node has up to :data:`MAX_GPUS` GPUs; missing GPU slots hold 0 milli-GPU left, so they
never fit a request and add nothing to a sum. A pod asks for ``num_gpu`` GPUs of
``gpu_milli`` each: ``gpu_milli < 1000`` means it shares one GPU (``num_gpu == 1``);
otherwise it takes ``num_gpu`` whole GPUs. Policies read the arrays; only
:meth:`Cluster.place` changes them.

Nodes come in as the trace loaders' :class:`~gpufleet.inputs.traces.loaders.openb.NodeSpec`
(CPU cores, memory in GiB) and are converted to these integers once, in :meth:`Cluster.build`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from gpufleet.errors import InputError
from gpufleet.inputs.traces.loaders.openb import NodeSpec

MILLI = 1000
MIB_PER_GIB = 1024
MAX_GPUS = 8
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class PodShape:
    """What a pod asks for. ``gpu_spec``: allowed GPU models, '|'-separated ("" = any)."""

    cpu_milli: int
    memory_mib: int
    num_gpu: int = 0
    gpu_milli: int = 0
    gpu_spec: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.gpu_milli <= MILLI:
            raise InputError(f"gpu_milli {self.gpu_milli}: expected 0 to {MILLI}")
        if self.num_gpu and not self.gpu_milli:
            raise InputError(f"num_gpu {self.num_gpu} with gpu_milli 0: expected 1 to {MILLI}")
        if self.num_gpu > 1 and self.gpu_milli < MILLI:
            raise InputError(
                f"num_gpu {self.num_gpu} x gpu_milli {self.gpu_milli}: a pod sharing a GPU "
                "asks for one GPU"
            )

    @property
    def shares_gpu(self) -> bool:
        return self.num_gpu == 1 and self.gpu_milli < MILLI

    @property
    def total_gpu_milli(self) -> int:
        return self.num_gpu * self.gpu_milli

    @property
    def affinity(self) -> str:
        """GpuClustering's class: "no-gpu", "share-gpu" or "<n>-gpu"."""
        if not self.num_gpu:
            return "no-gpu"
        return "share-gpu" if self.shares_gpu else f"{self.num_gpu}-gpu"


def node_spec(name: str, cpu_milli: int, memory_mib: int, gpus: int, model: str) -> NodeSpec:
    """A node given in the artifact's units (its node list's columns ``sn``, ``cpu_milli``,
    ``memory_mib``, ``gpu``, ``model``)."""
    return NodeSpec(model, gpus, cpu_milli / MILLI, memory_mib / MIB_PER_GIB, name=name)


def _milli_units(node: NodeSpec) -> tuple[int, int]:
    """(milli-CPU, MiB) of a node. Exact: the loader divided integers by 1000 and 1024, and
    rounding the product back recovers them (1024 is a power of two; x/1000*1000 is within
    one ulp of x)."""
    if node.cpus is None or node.memory_gb is None:
        raise InputError(
            f"node {node.name or node.gpu_type!r}: CPU or memory unknown; the packing "
            "simulator needs both (cpus, memory_gb)"
        )
    return round(node.cpus * MILLI), round(node.memory_gb * MIB_PER_GIB)


@dataclass
class Cluster:
    """Mutable cluster state. Arrays are indexed by node; ``gpu_left`` is (nodes, 8)."""

    names: tuple[str, ...]
    models: tuple[str, ...]
    gpu_count: IntArray
    cpu_cap: IntArray
    cpu_left: IntArray
    mem_left: IntArray
    gpu_left: IntArray
    affinity: list[dict[str, int]] = field(default_factory=list)

    @classmethod
    def build(cls, nodes: Sequence[NodeSpec]) -> Cluster:
        for n in nodes:
            if not 0 <= n.gpus <= MAX_GPUS:
                raise InputError(f"node {n.name}: {n.gpus} GPUs, expected 0 to {MAX_GPUS}")
        units = np.array([_milli_units(n) for n in nodes], dtype=np.int64).reshape(-1, 2)
        gpu_count = np.array([n.gpus for n in nodes], dtype=np.int64)
        gpu_left = np.where(np.arange(MAX_GPUS)[None, :] < gpu_count[:, None], MILLI, 0)
        cpu = units[:, 0].copy()
        return cls(
            names=tuple(n.name for n in nodes),
            models=tuple(n.gpu_type for n in nodes),
            gpu_count=gpu_count,
            cpu_cap=cpu,
            cpu_left=cpu.copy(),
            mem_left=units[:, 1].copy(),
            gpu_left=gpu_left.astype(np.int64),
            affinity=[{} for _ in nodes],
        )

    @property
    def size(self) -> int:
        return len(self.names)

    @property
    def total_gpu_milli(self) -> int:
        return int(self.gpu_count.sum()) * MILLI

    @property
    def used_gpu_milli(self) -> int:
        return self.total_gpu_milli - int(self.gpu_left.sum())

    def model_mask(self, gpu_spec: str) -> BoolArray:
        """Nodes whose GPU model the spec allows (all GPU nodes for "")."""
        if not gpu_spec:
            return np.ones(self.size, dtype=bool)
        allowed = set(gpu_spec.split("|"))
        return np.array([m in allowed for m in self.models], dtype=bool)

    def feasible(self, pod: PodShape, idx: IntArray, model_ok: BoolArray) -> BoolArray:
        """Which of the nodes ``idx`` can host ``pod`` now (CPU, memory, model, GPUs)."""
        ok = (self.cpu_left[idx] >= pod.cpu_milli) & (self.mem_left[idx] >= pod.memory_mib)
        if pod.num_gpu:
            fit = (self.gpu_left[idx] >= pod.gpu_milli).sum(axis=1) >= pod.num_gpu
            ok &= fit & model_ok[idx] & (self.gpu_count[idx] > 0)
        return ok

    def place(self, pod: PodShape, node: int, gpus: tuple[int, ...]) -> None:
        """Bind ``pod`` to ``node`` on GPU slots ``gpus``; the only state change."""
        if len(gpus) != pod.num_gpu:
            raise InputError(f"pod asks {pod.num_gpu} GPUs, placement gives {gpus}")
        if self.cpu_left[node] < pod.cpu_milli or self.mem_left[node] < pod.memory_mib:
            raise InputError(f"node {self.names[node]}: not enough CPU or memory for {pod}")
        for g in gpus:
            if self.gpu_left[node, g] < pod.gpu_milli or g >= self.gpu_count[node]:
                raise InputError(f"node {self.names[node]} GPU {g}: cannot hold {pod}")
        self.cpu_left[node] -= pod.cpu_milli
        self.mem_left[node] -= pod.memory_mib
        for g in gpus:
            self.gpu_left[node, g] -= pod.gpu_milli
        if pod.num_gpu:
            aff = self.affinity[node]
            aff[pod.affinity] = aff.get(pod.affinity, 0) + 1


def exclusive_gpus(left: IntArray, num_gpu: int) -> tuple[int, ...]:
    """The artifact's AllocateExclusiveGpuId: the first ``num_gpu`` fully free GPUs."""
    free = np.flatnonzero(left == MILLI)
    return tuple(int(g) for g in free[:num_gpu])


def best_fit_gpu(left: IntArray, milli: int) -> int:
    """The GPU with the least milli-GPU left that still holds ``milli`` (first on ties)."""
    cand = np.where(left >= milli, left, MILLI + 1)
    return int(np.argmin(cand))
