"""The openb trace (``alibaba-openb-v2023``) for the packing experiment, read through its
registered loader (:mod:`gpufleet.inputs.traces.loaders.openb`): the GPU nodes in file
order and every pod as an exact :class:`~gpufleet.labs.fgd.cluster.PodShape`.

Rows are read strictly: a bad row stops the run with its file, line and column, since a
reproduction on a silently thinned trace would not be comparable with the artifact's.
"""

from __future__ import annotations

from pathlib import Path

from gpufleet.inputs.traces.loaders import openb
from gpufleet.inputs.traces.loaders.openb import NodeSpec
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.labs.fgd.cluster import MIB_PER_GIB, MILLI, PodShape


def read_gpu_nodes(folder: Path) -> list[NodeSpec]:
    """The GPU nodes (1,213 nodes, 6,212 GPUs): those of the full node list, in its order,
    which are the artifact's ``openb_node_list_gpu_node.csv`` in the same order."""
    nodes = openb.read_nodes(folder, RowPolicy(str(folder)))
    return [n for n in nodes if n.gpus > 0]


def read_pods(folder: Path, variant: str = openb.DEFAULT) -> list[PodShape]:
    """The pods of ``csv/openb_pod_list_<variant>.csv`` in file order."""
    return [
        PodShape(
            cpu_milli=round(p.cpus * MILLI),  # the loader's cpu_milli / 1000, back exactly
            memory_mib=round(p.memory_gb * MIB_PER_GIB),
            num_gpu=p.num_gpu,
            gpu_milli=p.gpu_milli,
            gpu_spec=p.gpu_type,
        )
        for p in openb.read_pods(folder, RowPolicy(str(folder)), variant)
    ]
