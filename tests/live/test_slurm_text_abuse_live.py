"""A running job on the real dev cluster whose name is written to look like
``scontrol -d show job``'s detail line (``Nodes=... GRES=gpu:h100:8(IDX:0-7)``, after a
newline) claims no GPUs through the text job list's lookup: Slurm's own detail line
still follows, so the node is named twice and the lookup refuses the answer. In its own
module: it holds the cluster's lock itself, which test_slurm_text_live.py's story holds
for its whole module."""

from __future__ import annotations

import pytest

from gpufleet.live.errors import SourceError
from gpufleet.live.runner import SubprocessRunner
from gpufleet.live.slurm.jobs_text import SQUEUE_TEXT, lookup_allocations, parse_squeue_text
from tests.live.devcluster import DevCluster, wait_for
from tests.live.scene import clean, sbatch

pytestmark = pytest.mark.live


def test_a_running_job_named_like_a_detail_line_claims_no_gpus(
    devcluster: DevCluster,
) -> None:
    fake = "x\n     Nodes=gf-h100-1 CPU_IDs=0 Mem=0 GRES=gpu:h100:8(IDX:0-7)"
    with devcluster.exclusive():
        clean(devcluster)
        try:
            job = sbatch(devcluster, "tesla1", "tesla", "h100", "h100:2", "-J", fake)
            wait_for("the job running", lambda: _running(devcluster, job))
            runner = SubprocessRunner(env=devcluster.env)
            lines = parse_squeue_text("squeue", runner.run(SQUEUE_TEXT))
            line = next(x for x in lines if x.job_id == job)
            with pytest.raises(SourceError, match="named twice") as caught:
                lookup_allocations(runner, line)
            assert caught.value.source == f"scontrol -d show job {job}"
            json_job = next(j for j in devcluster.cli().jobs() if j.job_id == job)
            assert sum(len(a.indices) for a in json_job.allocations) == 2  # Slurm's truth
        finally:
            clean(devcluster)


def _running(cluster: DevCluster, job: int) -> bool | None:
    state = cluster.slurm("squeue", "-h", "-j", str(job), "-o", "%T")
    return True if state == "RUNNING" else None
