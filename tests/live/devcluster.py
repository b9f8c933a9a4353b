"""Finding and driving the dev cluster from tests: its state folder, Slurm's commands with
its SLURM_CONF, job submission as the article's users, and Prometheus's query API."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gpufleet.live.runner import SubprocessRunner
from gpufleet.live.slurm import SlurmCliSource, SlurmRestSource

T = TypeVar("T")


@dataclass(frozen=True)
class DevCluster:
    state: Path
    prometheus_url: str

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.state / "etc/slurm.conf")}

    @property
    def rest_socket(self) -> str:
        return str(self.state / "rest/slurmrestd.sock")

    @property
    def util_control(self) -> Path:
        return self.state / "dcgm/util"

    @contextmanager
    def exclusive(self, timeout_s: float = 300.0) -> Iterator[None]:
        """Hold the cluster for one test run: the story cancels its users' jobs and sets a
        node down, so two runs at once (two checkouts on one machine) would spoil both."""
        with open(self.state / "live-tests.lock", "w") as lock:
            end = time.monotonic() + timeout_s
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > end:
                        raise AssertionError(
                            f"another live test run held {lock.name} for {timeout_s:g} s"
                        ) from None
                    time.sleep(1)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def cli(self) -> SlurmCliSource:
        return SlurmCliSource(SubprocessRunner(env=self.env))

    def rest(self) -> SlurmRestSource:
        return SlurmRestSource(self.rest_socket)

    def slurm(self, *argv: str) -> str:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=30, env={**os.environ, **self.env}
        )
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr}")
        return done.stdout.strip()

    def submit(self, user: str, account: str, gres: str, name: str, comment: str = "") -> int:
        """A 2-minute sleep as ``user`` (Slurm runs jobs as real users) in ``account``."""
        argv = ["runuser", "-u", user, "--", "sbatch", "--parsable", "-A", account]
        argv += ["-p", "h100", f"--gres=gpu:{gres}", "-t", "5", "-J", name, "--chdir=/tmp"]
        argv += ["-o", "/dev/null", "--wrap", "sleep 120"]
        if comment:
            argv.append(f"--comment={comment}")
        return int(self.slurm(*argv))

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Prometheus's instant query API: the result vector."""
        url = f"{self.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


def find_devcluster() -> tuple[DevCluster | None, str]:
    """The running dev cluster, or None and why not (the skip reason)."""
    state = Path(os.environ.get("GPUFLEET_DEVCLUSTER_STATE", "/tmp/gpufleet-devcluster"))
    port = os.environ.get("GPUFLEET_DEVCLUSTER_PROM_PORT", "19090")
    cluster = DevCluster(state, f"http://127.0.0.1:{port}")
    pids = state / "pids"
    if not pids.exists() or not pids.read_text().strip():
        return None, f"dev cluster not up (no PIDs in {pids}): run scripts/devcluster/up"
    if os.geteuid() != 0:
        return None, "live tests submit jobs as the cluster's users: they need root"
    if shutil.which("sinfo") is None:
        return None, "Slurm's commands are not installed: run scripts/devcluster/up"
    try:
        cluster.slurm("sinfo", "-h", "-o", "%n")
    except (AssertionError, subprocess.TimeoutExpired) as exc:
        return None, f"dev cluster recorded in {state} but Slurm does not answer: {exc}"
    return cluster, ""


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = 30.0) -> T:
    """Poll ``probe`` every half second until it returns something not None."""
    end = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not seen within {timeout_s:g} s")
        time.sleep(0.5)
