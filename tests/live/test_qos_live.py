"""A QOS limit on the real dev cluster (issue 18, item 1): Slurm holds a job with
``QOSGrpGRES`` and the forecast from the same state predicts the same hold.

The scene (resource_limits.html, "QOS specific limits", GrpTRES): a QOS ``gfcap2`` with
``GrpTRES=gres/gpu=2``, allowed for xai1 in account xai (whose own GrpTRES is 4). xai1
submits A (2 H100, QOS gfcap2), then B (1 H100, gfcap2) and C (1 H100, QOS normal).
Expected: A runs (0 + 2 <= 2), B pends with QOSGrpGRES (2 + 1 > 2; the 16 H100s are
otherwise free), C runs (the account: 2 + 1 <= 4). The forecast read at that moment must
start B exactly when A ends (its 5-minute limit), and the same state with no QOS read
must start B at once: the hold comes from the QOS limit and nothing else.

Everything added is removed in the fixture's finally: the jobs, xai1's QOS grant, the
QOS."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gpufleet.live.clock import FixedClock
from gpufleet.live.forecast import forecast_from_state, read_slurm_state
from gpufleet.live.mapping import load_mapping
from gpufleet.live.slurm.model import JobState, SlurmJob
from tests.live.devcluster import DevCluster, wait_for

pytestmark = pytest.mark.live

QOS = "gfcap2"
MAPPING = Path(__file__).parent / "samples" / "mapping" / "devcluster.yaml"
USERS = ("tesla1", "tesla2", "xai1", "xai2")


@dataclass(frozen=True)
class Scene:
    cluster: DevCluster
    a: int
    b: int
    c: int


def _submit(cluster: DevCluster, gres: str, name: str, qos: str) -> int:
    argv = ["runuser", "-u", "xai1", "--", "sbatch", "--parsable", "-A", "xai", "-p", "h100"]
    argv += [f"--gres=gpu:{gres}", "-t", "5", "-J", name, "--chdir=/tmp", "-o", "/dev/null"]
    argv += [f"--qos={qos}", "--wrap", "sleep 120"]
    return int(cluster.slurm(*argv))


def _clean(cluster: DevCluster) -> None:
    for user in USERS:
        cluster.slurm("scancel", "-u", user)

    def none_left() -> bool | None:
        left = cluster.slurm("squeue", "-h", "-u", ",".join(USERS), "-t", "PD,R,CG", "-o", "%i")
        return True if not left else None

    wait_for("no jobs of the cluster's users", none_left, 60)


def _drop_qos(cluster: DevCluster) -> None:
    """Remove the grant and the QOS where they exist (a run killed midway left them)."""
    if QOS in cluster.slurm("sacctmgr", "-n", "-P", "show", "qos", "format=Name").split():
        cluster.slurm("sacctmgr", "-i", "modify", "user", "xai1", "where", "account=xai",
                      "set", f"qos-={QOS}")  # fmt: skip
        cluster.slurm("sacctmgr", "-i", "delete", "qos", QOS)


@pytest.fixture(scope="module")
def scene(devcluster: DevCluster) -> Iterator[Scene]:
    cluster = devcluster
    with cluster.exclusive():
        _clean(cluster)
        _drop_qos(cluster)
        try:
            cluster.slurm("sacctmgr", "-i", "add", "qos", QOS, "GrpTRES=gres/gpu=2")
            cluster.slurm("sacctmgr", "-i", "modify", "user", "xai1", "where", "account=xai",
                          "set", f"qos+={QOS}")  # fmt: skip
            a = _submit(cluster, "h100:2", "qos-a", QOS)
            wait_for("A running", lambda: _state(cluster, a) == "RUNNING" or None, 30)
            b = _submit(cluster, "h100:1", "qos-b", QOS)
            c = _submit(cluster, "h100:1", "qos-c", "normal")
            yield Scene(cluster, a, b, c)
        finally:
            _clean(cluster)
            _drop_qos(cluster)


def _state(cluster: DevCluster, job_id: int) -> str:
    return cluster.slurm("squeue", "-h", "-j", str(job_id), "-o", "%T")


def _decided(scene: Scene) -> dict[int, SlurmJob]:
    def probe() -> dict[int, SlurmJob] | None:
        jobs = {j.job_id: j for j in scene.cluster.cli().jobs()}
        ok = jobs[scene.c].state is JobState.RUNNING and jobs[scene.b].reason not in ("", "None")
        return jobs if ok else None

    return wait_for("Slurm's decision on B and C", probe, 30)


def test_slurm_holds_the_job_over_the_qos_cap_with_qos_grp_gres(scene: Scene) -> None:
    jobs = _decided(scene)
    b = jobs[scene.b]
    assert (b.state, b.reason, b.qos, b.user) == (JobState.PENDING, "QOSGrpGRES", QOS, "xai1")
    assert jobs[scene.a].state is JobState.RUNNING and jobs[scene.a].qos == QOS
    assert jobs[scene.c].state is JobState.RUNNING and jobs[scene.c].qos == "normal"


def test_the_forecast_predicts_the_same_hold_from_the_qos_limit(scene: Scene) -> None:
    _decided(scene)
    state = read_slurm_state(scene.cluster.cli())
    assert [q.name for q in state.qos] == ["normal", QOS] and state.qos_error == ""
    now = datetime.now(UTC)
    mapping = load_mapping(MAPPING)
    f = forecast_from_state(state, mapping, FixedClock(now).now())
    a = next(j for j in f.running if j.job_id == scene.a)
    b = next(j for j in f.pending if j.job_id == scene.b)
    assert a.start is not None and a.end == a.start + timedelta(minutes=5)  # A's limit
    assert b.start == a.end  # held by gfcap2 until A gives its 2 GPUs back
    assert scene.c in {j.job_id for j in f.running}
    # the same state without the QOS list: nothing holds B, it starts at the first pass
    free = forecast_from_state(replace(state, qos=()), mapping, now)
    b_free = next(j for j in free.pending if j.job_id == scene.b)
    assert b_free.start is not None and b_free.start < now + timedelta(seconds=10)
