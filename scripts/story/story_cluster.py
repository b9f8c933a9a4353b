"""The story's hands on the dev cluster: Slurm's commands with its SLURM_CONF, the
accounts' snapshot and their exact restoration, a step's check, and the worker that is
killed mid-apply (run as its own process: ``live_fleet_ii.py --killed-worker``)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, TypeVar

from gpufleet.live.enact.restore import ClusterState, take
from gpufleet.live.enact.restore import restore as restore_cluster

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("GPUFLEET_DEVCLUSTER_STATE", "/tmp/gpufleet-devcluster"))
ENV = {"SLURM_CONF": str(STATE / "etc/slurm.conf")}
MAPPING = ROOT / "tests/live/samples/mapping/devcluster.yaml"
JOB_NAME = "story-xai"
T = TypeVar("T")


LOCK = STATE / "live-tests.lock"


def _ancestors() -> set[int]:
    out, pid = set(), os.getppid()
    while pid > 1 and pid not in out:
        out.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state: ppid
    return out


def _holders(path: Path) -> set[int]:
    """The processes holding a flock on ``path``, from /proc/locks (``1: FLOCK ADVISORY
    WRITE PID MAJ:MIN:INODE 0 EOF``)."""
    inode = os.stat(path).st_ino
    out = set()
    for line in Path("/proc/locks").read_text().splitlines():
        parts = line.split()
        if len(parts) > 5 and parts[1] == "FLOCK" and parts[5].rsplit(":", 1)[-1] == str(inode):
            out.add(int(parts[4]))
    return out


@contextmanager
def cluster_lock(timeout_s: float = 900.0) -> Iterator[str]:
    """The dev cluster's lock (the live tests' own), held for the story; a process above
    this one that holds it (the docs' test of the README runs the story under it) lends it.
    Yields who holds it."""
    with open(LOCK, "a") as lock:
        end = time.monotonic() + timeout_s
        while not _try_lock(lock):
            lent = _holders(LOCK) & _ancestors()
            if lent:
                yield f"held by process {min(lent)}, which runs this story"
                return
            if time.monotonic() > end:
                raise StepFailed(f"another run held {LOCK} for {timeout_s:g} s")
            time.sleep(1)
        try:
            yield "held by this story"
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _try_lock(lock: IO[str]) -> bool:
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class StepFailed(Exception):
    """A step's check did not hold: the story stops, restores and exits 1."""


def check(ok: bool, what: str) -> None:
    if not ok:
        raise StepFailed(what)
    say(f"  ok: {what}")


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def slurm(*argv: str) -> str:
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=60, env={**os.environ, **ENV}, check=False
    )
    if done.returncode != 0:
        raise StepFailed(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout.strip()


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float) -> T:
    end = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > end:
            raise StepFailed(f"waited {timeout_s:g} s for {what}")
        time.sleep(0.5)


def caps() -> dict[str, str]:
    """tesla's and xai's own GPU caps, as sacctmgr shows them ('' for none)."""
    out = slurm("sacctmgr", "-P", "-n", "show", "assoc", "where", "account=tesla,xai", "user=",
                "format=Account,GrpTRES")  # fmt: skip
    return dict(line.split("|") for line in out.splitlines())


def snapshot() -> ClusterState:
    return take(slurm)


def restore(before: ClusterState) -> bool:
    """Cancel the story's jobs, then put the accounts and reservations back
    (:func:`gpufleet.live.enact.restore.restore`). True when equal to ``before`` again."""
    subprocess.run(["scancel", f"--name={JOB_NAME}", "--full"], env={**os.environ, **ENV},
                   capture_output=True, check=False)  # fmt: skip
    return restore_cluster(slurm, before, "gfdev")


def sbatch(seconds: int) -> int:
    """xai1's 4 H100 on tesla's gf-h100-1 (memphis-h100 in the mapping) for ``seconds``."""
    return int(slurm(
        "runuser", "-u", "xai1", "--", "sbatch", "--parsable", "-A", "xai", "-p", "h100",
        "--gres=gpu:h100:4", "-w", "gf-h100-1", "-t", "5", "-J", JOB_NAME, "--chdir=/tmp",
        "-o", "/dev/null", "--wrap", f"sleep {seconds}",
    ))  # fmt: skip


def killed_worker(db_url: str, lock: str, at: str) -> None:
    """One worker tick at ``at`` that ``kill -9``s its own process right after the first
    change's command returned, before its audit record: a crash mid-apply."""
    from gpufleet.governance.store.db import Store
    from gpufleet.live.enact.slurm_apply import Outcome, SubprocessExecutor
    from gpufleet.live.enact.worker import EnactOptions, EnactWorker
    from gpufleet.live.mapping import load_mapping
    from gpufleet.live.runner import SubprocessRunner

    class DieAfterFirst(SubprocessExecutor):
        def run(self, argv: Sequence[str]) -> Outcome:
            done = super().run(argv)
            os.kill(os.getpid(), signal.SIGKILL)
            return done

    instant = datetime.fromisoformat(at)
    worker = EnactWorker(
        Store(db_url), EnactOptions("gfdev"), load_mapping(MAPPING), SubprocessRunner(ENV),
        DieAfterFirst(ENV), Path(lock), clock=lambda: instant, actor="story:worker-killed",
    )  # fmt: skip
    worker.tick()
