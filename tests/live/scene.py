"""The observation's story on the dev cluster, set up by the recorder of the Prometheus
samples (record_story.py) and by the live observation test alike.

tesla1 runs two 4-H100 jobs at 73 % utilisation; xai1 runs two 2-H100 jobs (xai's cap
of 4 GPUs reached), the second at 4 % (allocated but idle); a third xai job pends on the
cap (AssocGrpGRES); tesla2 asks 8 H100 when only 4 are free (Resources); tesla1 asks 2
A100 on gf-a100-1, which is set DOWN with reason "no power".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.live.devcluster import DevCluster, wait_for

USERS = ("tesla1", "tesla2", "xai1", "xai2")
DOWN_NODE = "gf-a100-1"
TESLA_UTIL = 73
XAI_IDLE_UTIL = 4


@dataclass(frozen=True)
class Scene:
    tesla_running: tuple[int, int]
    xai_running: tuple[int, int]  # the second at XAI_IDLE_UTIL
    xai_over_quota: int
    tesla_big: int  # 8 H100: more than is free
    tesla_a100: int  # on the down node's partition


def sbatch(cluster: DevCluster, user: str, account: str, part: str, gres: str, *extra: str) -> int:
    argv = ["runuser", "-u", user, "--", "sbatch", "--parsable", "-A", account, "-p", part]
    argv += [f"--gres=gpu:{gres}", "-t", "5", "--chdir=/tmp", "-o", "/dev/null"]
    return int(cluster.slurm(*argv, *extra, "--wrap", "sleep 240"))


def clean(cluster: DevCluster) -> None:
    for user in USERS:  # scancel -u takes one user
        cluster.slurm("scancel", "-u", user)
    state = cluster.slurm("sinfo", "-h", "-N", "-n", DOWN_NODE, "-o", "%T")
    if state.startswith(("down", "drain")):
        cluster.slurm("scontrol", "update", f"nodename={DOWN_NODE}", "state=resume")
    cluster.util_control.unlink(missing_ok=True)
    wait_for("no jobs of the story's users", lambda: _none_left(cluster), 60)


def _none_left(cluster: DevCluster) -> bool | None:
    left = cluster.slurm("squeue", "-h", "-u", ",".join(USERS), "-t", "PD,R,CG", "-o", "%i")
    return True if not left else None


def _states(cluster: DevCluster, ids: tuple[int, ...]) -> list[str]:
    out = cluster.slurm("squeue", "-h", "-j", ",".join(map(str, ids)), "-o", "%i %T %r")
    return sorted(out.splitlines())


@contextmanager
def story_scene(cluster: DevCluster) -> Iterator[Scene]:
    """Sets the scene, waits until Slurm has decided every job and Prometheus has scraped
    the utilisations, yields, and cleans up (jobs cancelled, node resumed)."""
    clean(cluster)
    cluster.slurm("scontrol", "update", f"nodename={DOWN_NODE}", "state=down", "reason=no power")
    try:
        util = f"--comment=gpu_util={TESLA_UTIL}"
        tesla = tuple(sbatch(cluster, "tesla1", "tesla", "h100", "h100:4", util) for _ in (1, 2))
        xai = tuple(sbatch(cluster, "xai1", "xai", "h100", "h100:2") for _ in (1, 2))
        wait_for("the first four jobs running", lambda: _all_running(cluster, (*tesla, *xai)))
        cluster.util_control.write_text(f"{xai[1]} {XAI_IDLE_UTIL}\n")
        scene = Scene(
            tesla_running=(tesla[0], tesla[1]),
            xai_running=(xai[0], xai[1]),
            xai_over_quota=sbatch(cluster, "xai1", "xai", "h100", "h100:2"),
            tesla_big=sbatch(cluster, "tesla2", "tesla", "h100", "h100:8"),
            tesla_a100=sbatch(cluster, "tesla1", "tesla", "a100", "a100:2"),
        )
        pending = (scene.xai_over_quota, scene.tesla_big, scene.tesla_a100)
        wait_for("reasons of the pending jobs", lambda: _decided(cluster, pending), 30)
        wait_for("the idle job's utilisation scraped", lambda: _scraped(cluster, xai[1]), 20)
        yield scene
    finally:
        clean(cluster)


def _all_running(cluster: DevCluster, ids: tuple[int, ...]) -> bool | None:
    return True if all(" RUNNING " in s for s in _states(cluster, ids)) else None


def _decided(cluster: DevCluster, ids: tuple[int, ...]) -> bool | None:
    states = _states(cluster, ids)
    return (
        True
        if all(s.endswith(("AssocGrpGRES", "Resources", "Priority")) or "Node" in s for s in states)
        and len(states) == len(ids)
        else None
    )


def _scraped(cluster: DevCluster, job_id: int) -> bool | None:
    found = cluster.query(f'DCGM_FI_DEV_GPU_UTIL{{hpc_job="{job_id}"}} == {XAI_IDLE_UTIL}')
    return True if len(found) == 2 else None
