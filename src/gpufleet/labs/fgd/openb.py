"""The openb trace (``alibaba-openb-v2023``) as exact integers for the packing experiment.

The registered loader (:mod:`gpufleet.inputs.traces.loaders.openb`) folds ``num_gpu`` and
``gpu_milli`` into one fractional ``gpus`` and groups identical nodes; the simulator
needs both integers per pod and one entry per node, so it reads the same CSVs here.
"""

from __future__ import annotations

import csv
from pathlib import Path

from gpufleet.errors import InputError
from gpufleet.labs.fgd.cluster import NodeSpec, PodShape


def _int(row: dict[str, str], column: str, path: Path, line: int) -> int:
    try:
        return int(row[column] or 0)
    except (KeyError, ValueError):
        raise InputError(
            f"{path}:{line}: {column} {row.get(column)!r}: expected an integer"
        ) from None


def read_gpu_nodes(folder: Path) -> list[NodeSpec]:
    """The GPU nodes of ``csv/openb_node_list_gpu_node.csv`` (1,213 nodes, 6,212 GPUs)."""
    path = folder / "csv" / "openb_node_list_gpu_node.csv"
    with path.open(newline="") as f:
        return [
            NodeSpec(
                name=row["sn"],
                cpu_milli=_int(row, "cpu_milli", path, i),
                memory_mib=_int(row, "memory_mib", path, i),
                gpus=_int(row, "gpu", path, i),
                model=row["model"],
            )
            for i, row in enumerate(csv.DictReader(f), start=2)
        ]


def read_pods(folder: Path, variant: str = "default") -> list[PodShape]:
    """The pods of ``csv/openb_pod_list_<variant>.csv`` in file order."""
    path = folder / "csv" / f"openb_pod_list_{variant}.csv"
    with path.open(newline="") as f:
        return [
            PodShape(
                cpu_milli=_int(row, "cpu_milli", path, i),
                memory_mib=_int(row, "memory_mib", path, i),
                num_gpu=_int(row, "num_gpu", path, i),
                gpu_milli=_int(row, "gpu_milli", path, i) if _int(row, "num_gpu", path, i) else 0,
                gpu_spec=row.get("gpu_spec") or "",
            )
            for i, row in enumerate(csv.DictReader(f), start=2)
        ]
