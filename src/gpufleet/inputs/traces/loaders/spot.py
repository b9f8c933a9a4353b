"""``alibaba-spot-gpu-v2026``: the node inventory of Alibaba's spot-GPU cluster (Duan et al.,
"GFS", ASPLOS '26), a modern fleet (A100, A800, H800, A10) shared by cost organizations.

The job table (``job_info_df.csv``: 466,867 high-priority and Spot jobs of 84
organizations) could not be obtained, so this is a fleet without jobs: nodes grouped by
GPU model, GPUs and vCPUs. ``thirdparty_stats/`` holds a third party's aggregates of that
job table (per organization, per GPU model, hourly requested demand): statistics for
calibrating a synthetic workload, not jobs, and not loaded here.
"""

from __future__ import annotations

from pathlib import Path

from gpufleet.inputs.traces.loaders._tables import NodeSpec, Row, gpu_fleet, read_table
from gpufleet.inputs.traces.registry import register
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.inputs.traces.workload import Workload

NAME = "alibaba-spot-gpu-v2026"
COLUMNS = ("gpu_model", "gpu_capacity_num", "cpu_num", "node_name")
# the official README's six models; GPU-series-1/2 are undisclosed
GPU_MODELS = frozenset(
    {"A10", "A100-SXM4-80GB", "A800-SXM4-80GB", "H800", "GPU-series-1", "GPU-series-2"}
)


@register(NAME, "Alibaba spot-GPU cluster (GFS, ASPLOS '26): node inventory only, 10,412 GPUs")
def load(folder: Path, policy: RowPolicy) -> Workload:
    path = folder / "node_info_df.csv"
    fleet, _ = gpu_fleet(read_table(path, policy, COLUMNS, _node), "nodes")
    return Workload.build(
        NAME,
        [],
        [],
        [],
        fleet=fleet,
        notes=[
            "node inventory only: the job table job_info_df.csv (466,867 HP/Spot jobs of 84 "
            "cost organizations) could not be obtained, so there are no jobs",
            "thirdparty_stats/ holds a third party's aggregates of the job table (per "
            "organization, per GPU model, hourly requested demand): statistics, not jobs; "
            "not loaded",
            "cpus_per_node = cpu_num (vCPUs); node memory is not in the trace",
            "GPU-series-1 and GPU-series-2 are undisclosed GPU models",
            *policy.notes(),
        ],
        source=str(path),
    )


def _node(row: Row) -> NodeSpec:
    model = row.choice("gpu_model", GPU_MODELS, "GPU model")
    gpus = int(row.number("gpu_capacity_num", integer=True, strict=True))
    cpus = row.number("cpu_num", integer=True, strict=True)
    return NodeSpec(model, gpus, cpus)
