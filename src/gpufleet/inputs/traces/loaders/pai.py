"""``alibaba-pai-v2020``: the machine inventory of Alibaba PAI's GPU cluster (Weng et al.,
"MLaaS in the Wild", USENIX NSDI '22), July-August 2020.

Only ``pai_machine_spec.csv`` could be obtained (its job, task, instance and sensor tables
could not), so this is a fleet without jobs: GPU machines grouped by GPU type, GPUs, CPU
cores and memory (CPU-only machines noted, not carried). The CSV has no header line; its
column names are in ``pai_machine_spec.header.txt`` (the documented ones when that file is
absent).
"""

from __future__ import annotations

from pathlib import Path

from gpufleet.inputs.traces.loaders._tables import NodeSpec, Row, gpu_fleet, read_table
from gpufleet.inputs.traces.registry import register
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.inputs.traces.workload import Workload

NAME = "alibaba-pai-v2020"
COLUMNS = ("machine", "gpu_type", "cap_cpu", "cap_mem", "cap_gpu")
CPU_ONLY = "CPU"
# the official README's GPU types (MISC: models not disclosed); CPU = no GPU
GPU_TYPES = frozenset({"MISC", "P100", "T4", "V100", "V100M32"})


@register(NAME, "Alibaba PAI GPU cluster (NSDI '22): machine inventory only, 6,742 GPUs")
def load(folder: Path, policy: RowPolicy) -> Workload:
    path = folder / "pai_machine_spec.csv"
    machines = read_table(path, policy, COLUMNS, _machine, header=_header(folder))
    fleet, fleet_notes = gpu_fleet(machines, "machines (gpu_type CPU)")
    return Workload.build(
        NAME,
        [],
        [],
        [],
        fleet=fleet,
        notes=[
            "machine inventory only: PAI's job, task, instance and sensor tables could not be "
            "obtained, so there are no jobs (PAI's headline job statistics are in "
            "acme-2023's published_summary(), row 'PAI')",
            *fleet_notes,
            "MISC is the source's own GPU type label; its models are not disclosed",
            "cpus_per_node = cap_cpu (cores); memory_gb_per_node = cap_mem (GB)",
            *policy.notes(),
        ],
        source=str(path),
    )


def _header(folder: Path) -> tuple[str, ...]:
    path = folder / "pai_machine_spec.header.txt"
    if not path.is_file():
        return COLUMNS
    return tuple(c.strip() for c in path.read_text(encoding="utf-8").strip().split(","))


def _machine(row: Row) -> NodeSpec:
    gpu_type = row.choice("gpu_type", GPU_TYPES | {CPU_ONLY}, "GPU type")
    gpus = int(row.number("cap_gpu", integer=True))
    if (gpu_type == CPU_ONLY) != (gpus == 0):
        expected = "0 for gpu_type CPU" if gpu_type == CPU_ONLY else f"1 or more for {gpu_type}"
        row.fail("cap_gpu", f"does not match gpu_type {gpu_type}: {gpus}", expected)
    cpus = row.number("cap_cpu", strict=True)
    memory_gb = row.number("cap_mem", strict=True)
    return NodeSpec("" if gpu_type == CPU_ONLY else gpu_type, gpus, cpus, memory_gb)
