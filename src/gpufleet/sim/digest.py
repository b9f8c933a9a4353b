"""A run's fingerprint: every job's starts, ends and GPUs, hashed.

Speeding up a policy must not change what it decides. Two runs decided the same when every
job started at the same instants on the same GPUs and stopped at the same instants; the
digest is a SHA-256 over exactly that, so a test can hold one run's digest and compare a
later build's (issue 16: "identical results, a digest of every job's start, end and GPUs").

What is recorded, in the order the simulator makes it happen (which is deterministic):
each launch as ``(job id, start, planned end, group, slots)`` and each halt (preemption,
node failure, transfer) as ``(job id, halted at)``. A launch's planned end is its end
unless a halt for the same job follows. Floats are written with ``repr`` (exact).
"""

from __future__ import annotations

import hashlib

from gpufleet.domain.scenario import Scenario
from gpufleet.policies.base import Policy
from gpufleet.sim.simulator import Simulation
from gpufleet.state.jobs import Job


class _Recording(Simulation):
    """The simulator with its executor's two calls noted in a running hash."""

    def start_digest(self) -> None:
        self._hash = hashlib.sha256()
        self.launches = 0
        self.halts = 0

    def launch(self, job: Job, now_s: float, run_s: float) -> None:
        pl = job.placement
        where = (pl.group, tuple(pl.slots)) if pl is not None else None
        self._hash.update(repr(("L", int(job.spec.id), now_s, now_s + run_s, where)).encode())
        self.launches += 1
        super().launch(job, now_s, run_s)

    def halt(self, job: Job, now_s: float) -> None:
        self._hash.update(repr(("H", int(job.spec.id), now_s)).encode())
        self.halts += 1
        super().halt(job, now_s)


def run_digest(scenario: Scenario, policy: Policy | None = None, seed: int | None = None) -> str:
    """Run ``scenario`` to its horizon (under ``policy``, else its own) and return the
    digest: ``sha256:<hex> launches=<n> halts=<n>``, the counts making a mismatch easier
    to read."""
    sim = _Recording(scenario, policy, seed)
    sim.start_digest()
    sim.run()
    return f"sha256:{sim._hash.hexdigest()} launches={sim.launches} halts={sim.halts}"
