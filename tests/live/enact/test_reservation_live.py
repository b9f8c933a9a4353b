"""A lease applied as a real Slurm reservation (``gpufleet apply slurm --apply --leases
reservation``) on the dev cluster, under its lock: the enact story's lease of tesla's
memphis node (8 H100 on gf-h100-1) to xai becomes ``gpufleet-transfer-ID`` on gf-h100-1
for xai's account over the lease's window; an xai job asking for the reservation runs
on gf-h100-1; re-applying is a no-op; applied at an instant after the window, the
reservation is deleted. The cluster is restored as it was (``cluster``,
tests/support/enact_cluster.py), even when the test fails.

Slurm's rules used (https://slurm.schedmd.com/reservations.html and scontrol(1),
"RESERVATIONS"): a reservation names its Accounts, Nodes, StartTime ("now" for a window
that has begun: a start in the past is refused) and EndTime; only jobs of those accounts
that ask for it with ``--reservation`` run on its nodes; ``Flags=IGNORE_JOBS`` lets it
be created on nodes that run jobs, which keep running."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gpufleet.governance.store.db import Store
from tests.live.devcluster import DevCluster, wait_for
from tests.live.enact.lease import lend
from tests.live.enact.test_enact_live import _apply

pytestmark = [pytest.mark.live, pytest.mark.slow]  # .ci/run runs them: -m slow tests/live


def _reservations(dc: DevCluster) -> dict[str, dict[str, str]]:
    """``scontrol -o show reservation``: each reservation's fields by name (with none,
    scontrol prints "No reservations in the system")."""
    out: dict[str, dict[str, str]] = {}
    for line in dc.slurm("scontrol", "-o", "show", "reservation").splitlines():
        if not line.startswith("ReservationName="):
            continue
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        out[fields["ReservationName"]] = fields
    return out


def test_a_lease_as_a_reservation_runs_xais_job_on_teslas_node_and_is_deleted_at_its_end(
    cluster: DevCluster, register: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    tid = lend(register)  # 8 H100 of memphis-h100 (gf-h100-1), yesterday .. today + 30 days
    name = f"gpufleet-transfer-{tid}"
    lock = ["--lock-file", str(tmp_path / "apply.lock")]
    reserve = ["--leases", "reservation", *lock]
    # tesla's own job already runs on gf-h100-1: Flags=IGNORE_JOBS lets the reservation be
    # made over it (scontrol(1): "Ignore currently running jobs when creating the
    # reservation"), and it keeps running
    tesla = int(cluster.slurm(
        "runuser", "-u", "tesla1", "--", "sbatch", "--parsable", "-A", "tesla", "-p", "h100",
        "--gres=gpu:h100:4", "-w", "gf-h100-1", "-t", "5", "-J", "enact-xai", "--chdir=/tmp",
        "-o", "/dev/null", "--wrap", "sleep 120",
    ))  # fmt: skip  # the name `cluster` cancels after the test
    where = ("squeue", "-h", "-j", str(tesla), "-o", "%T %N")
    wait_for(f"tesla's job {tesla} running", lambda: cluster.slurm(*where).startswith(
        "RUNNING") or None, 60)  # fmt: skip
    on = cluster.slurm(*where)
    assert on == "RUNNING gf-h100-1"
    assert _apply(register, "--apply", *reserve) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert f"create reservation {name}" in out or name in out, out
    held = _reservations(cluster)[name]
    # the whole node (8 GPUs / 8 per node = 1 node) for xai's account, until the lease's end
    today = datetime.now(UTC).date()
    assert (held["Nodes"], held["Accounts"]) == ("gf-h100-1", "xai"), held
    assert held["EndTime"] == f"{today + timedelta(days=30)}T00:00:00", held
    assert "IGNORE_JOBS" in held["Flags"], held
    assert cluster.slurm(*where) == on  # not cancelled, not moved
    start = datetime.fromisoformat(held["StartTime"])  # "now" when applied: the window began
    assert abs((start - datetime.now()).total_seconds()) < 120, held

    job = int(cluster.slurm(
        "runuser", "-u", "xai1", "--", "sbatch", "--parsable", "-A", "xai", "-p", "h100",
        f"--reservation={name}", "--gres=gpu:h100:4", "-t", "5", "-J", "enact-xai",
        "--chdir=/tmp", "-o", "/dev/null", "--wrap", "sleep 8",
    ))  # fmt: skip
    state = ("squeue", "-h", "-j", str(job), "-o", "%T %N %v")
    running = wait_for(f"job {job} running", lambda: (
        (s := cluster.slurm(*state)).startswith("RUNNING") and s) or None, 60)  # fmt: skip
    assert running == f"RUNNING gf-h100-1 {name}"

    assert _apply(register, "--apply", *reserve) == 0
    again = capsys.readouterr().out
    assert "0 change(s)" in again, again
    assert _reservations(cluster)[name] == held

    # the reservation is deleted once no job of its own runs in it
    cluster.slurm("scancel", str(tesla))
    done = ("sacct", "-X", "-n", "-P", "-j", str(job), "--format=State")
    wait_for(f"job {job} completed", lambda: cluster.slurm(*done) == "COMPLETED" or None, 60)
    after = f"{today + timedelta(days=31)}T00:00:00Z"
    assert _apply(register, "--apply", *reserve, "--at", after) == 0
    ended = capsys.readouterr().out
    assert name in ended, ended
    assert name not in _reservations(cluster)
