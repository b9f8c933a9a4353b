"""A job on two nodes, recorded from the dev cluster (``record_samples.py --multinode``):
squeue writes its nodes as a host list and one GRES detail per node, in that order."""

from __future__ import annotations

from pathlib import Path

from gpufleet.live.runner import ReplayRunner
from gpufleet.live.slurm import GpuAllocation, JobState
from tests.live.replay import cli_client

SAMPLES = Path(__file__).parent / "samples" / "slurm-multinode"


def test_a_two_node_job_holds_two_gpus_on_each_node_in_host_list_order() -> None:
    jobs = {j.job_id: j for j in cli_client(ReplayRunner.from_directory(SAMPLES)).jobs()}
    wide = jobs[10]
    assert (wide.state, wide.nodes, wide.gpus) == (
        JobState.RUNNING,
        ("gf-h100-1", "gf-h100-2"),  # gf-h100-[1-2]
        4,  # gres/gpu=4 in tres_req_str: 2 per node x 2 nodes
    )
    assert wide.allocations == (
        GpuAllocation("gf-h100-1", "h100", (3, 4)),
        GpuAllocation("gf-h100-2", "h100", (0, 1)),
    )
    assert jobs[11].reason == "AssocGrpGRES"  # the wide job holds all 4 of xai's cap
    assert jobs[9].comment == "gpu_util=73"
