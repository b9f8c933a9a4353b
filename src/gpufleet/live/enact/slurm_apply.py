"""Plan, apply and verify the desired state on a Slurm cluster, through its commands.

:func:`plan` reads the cluster (``sacctmgr show assoc``, ``scontrol show reservation``)
and diffs it with the desired state: it changes nothing. :func:`apply`, under the
cluster's lock (:mod:`.lock`), in numbered phases:

1. read the cluster and diff; nothing to change is a no-op (nothing written anywhere);
2. journal the run ahead (:mod:`.journal`): every change with its exact inverse. If the
   audit log cannot be written the apply stops here, the cluster untouched;
3. run each change's command; after each, its audit record (before, after, transfers,
   approvals);
4. on a failure, run the inverses of the changes made, newest first, each audited, and
   raise :class:`EnactFailedError` naming the failing command and its stderr;
5. verify by reading the cluster back: the diff must now be empty;
6. journal the outcome.

Running jobs are never cancelled: a GrpTRES lowered below what an account's jobs hold
stops new starts only (Slurm checks association limits when it starts a job:
https://slurm.schedmd.com/resource_limits.html), and reservations are made with
``IGNORE_JOBS``. slurmrestd is not used to write: 22.05's v0.0.38 can add associations but
has no way to create or update a reservation, and the dev cluster's slurmrestd runs as an
unprivileged user; the commands do everything with Slurm's own admin checks.

Who may apply: a fleet-admin (:func:`gpufleet.governance.auth.access.require_fleet_admin`);
the command line, which holds the database's URL and Slurm's admin rights, acts as one.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from gpufleet.governance.auth.access import require_fleet_admin
from gpufleet.governance.auth.tokens import Principal
from gpufleet.governance.store.db import Store
from gpufleet.live.enact.commands import forward_and_inverse
from gpufleet.live.enact.current import ClusterNow, read_cluster
from gpufleet.live.enact.diff import Change, diff
from gpufleet.live.enact.journal import Journal, assess, change_dict, unfinished
from gpufleet.live.enact.model import DesiredState
from gpufleet.live.errors import SourceError
from gpufleet.live.runner import CommandRunner, command_text


@dataclass(frozen=True)
class Outcome:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class Executor(Protocol):
    """Runs one changing command (no shell) and returns its outcome, failed or not."""

    def run(self, argv: Sequence[str]) -> Outcome: ...


class SubprocessExecutor:
    def __init__(self, env: Mapping[str, str] | None = None, timeout_s: float = 60.0) -> None:
        self.env, self.timeout_s = dict(env or {}), timeout_s

    def run(self, argv: Sequence[str]) -> Outcome:
        try:
            done = subprocess.run(
                list(argv), capture_output=True, text=True, timeout=self.timeout_s,
                env={**os.environ, **self.env}, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Outcome(tuple(argv), 127, "", str(exc))
        return Outcome(tuple(argv), done.returncode, done.stdout, done.stderr)


class RecordingExecutor:
    """The package's fake of the seam: records each command and answers ``outcomes`` (by
    call number, from 1) or success; for tests of what runs, not of what Slurm does."""

    def __init__(self, outcomes: Mapping[int, tuple[int, str]] | None = None) -> None:
        self.outcomes = dict(outcomes or {})
        self.calls: list[tuple[str, ...]] = []

    def run(self, argv: Sequence[str]) -> Outcome:
        self.calls.append(tuple(argv))
        code, stderr = self.outcomes.get(len(self.calls), (0, ""))
        return Outcome(tuple(argv), code, "", stderr)


class EnactFailedError(SourceError):
    """The cluster refused a change; what was applied before it has been rolled back
    (``rolled_back``) or, if an inverse failed too, is listed in the message."""

    def __init__(self, failed: Outcome, rolled_back: bool, detail: str = "") -> None:
        stderr = failed.stderr.strip() or failed.stdout.strip() or "no error text"
        state = "the changes made were rolled back" if rolled_back else detail
        super().__init__(
            command_text(failed.argv), "", f"exit {failed.returncode}: {stderr}; {state}"
        )
        self.code = "enact-failed"
        self.failed = failed


@dataclass(frozen=True)
class Step:
    n: int
    change: Change
    forward: tuple[str, ...]
    inverse: tuple[str, ...]

    def record(self) -> dict[str, object]:
        return change_dict(self.n, self.change, self.forward, self.inverse)


@dataclass(frozen=True)
class Plan:
    desired: DesiredState
    now: ClusterNow
    steps: tuple[Step, ...]
    unfinished: str = ""  # the assessment of a run cut short, if any


Keep = Callable[[Change], bool]
"""Which changes of the diff to make (the worker's: the scheduled ones, :mod:`.schedule`)."""


def _all(c: Change) -> bool:
    return True


def plan(
    desired: DesiredState, runner: CommandRunner, store: Store | None = None, keep: Keep = _all
) -> Plan:
    """The changes that bring the cluster to ``desired`` (those ``keep`` keeps); reads only."""
    now = read_cluster(runner, desired.cluster)
    at = desired.at
    changes = [c for c in diff(desired, now) if keep(c)]
    steps = tuple(
        Step(n, c, *forward_and_inverse(c, desired.cluster, at))
        for n, c in enumerate(changes, start=1)
    )
    note = ""
    if store is not None and (run := unfinished(store, desired.cluster)) is not None:
        note = f"run {run.run} (begun {run.at}) did not finish: {assess(run, now).text()}"
    return Plan(desired, now, steps, note)


@dataclass(frozen=True)
class Applied:
    plan: Plan
    run: str | None  # None: nothing to do (no journal written)


def apply(
    desired: DesiredState,
    runner: CommandRunner,
    executor: Executor,
    store: Store,
    actor: str,
    principal: Principal | None = None,
    keep: Keep = _all,
    baseline: list[list[object]] | None = None,
) -> Applied:
    """Apply the plan (the caller holds the cluster's lock). ``principal``: the API
    caller, who must be a fleet-admin; None for the command line. ``keep``: which
    changes of the diff to make (and to verify); all by default. ``baseline``: the
    desired values journalled with the run (the worker's, for its next start)."""
    if principal is not None:
        require_fleet_admin(principal, "applying the register to a Slurm cluster")
    p = plan(desired, runner, store, keep)  # phase 1
    journal = Journal(store, actor, desired.cluster)
    if (cut := unfinished(store, desired.cluster)) is not None:
        Journal(store, actor, desired.cluster, cut.run).end("finished-by", by=journal.run)
    if not p.steps:
        return Applied(p, None)
    records = [s.record() for s in p.steps]
    journal.begin(desired.at, records, desired.notes, baseline)  # phase 2: raises before any change
    done: list[Step] = []
    for step, record in zip(p.steps, records, strict=True):  # phase 3
        outcome = executor.run(step.forward)
        if outcome.returncode != 0:
            _roll_back(done, executor, journal, outcome)  # phase 4
        done.append(step)
        try:
            journal.change(record)
        except Exception as exc:  # the change ran but is not audited: undo it all
            why = f"its audit record could not be written ({type(exc).__name__}: {exc})"
            _roll_back(done, executor, journal, Outcome(step.forward, 0, "", why), audited=False)
    leftover = [
        c for c in diff(desired, read_cluster(runner, desired.cluster)) if keep(c)
    ]  # phase 5
    if leftover:
        journal.end("verify-failed", leftover=[c.target + " " + c.attribute for c in leftover])
        raise SourceError(
            desired.cluster, "", f"read back, {len(leftover)} change(s) are not in force",
            "the cluster to hold what was applied",
        )  # fmt: skip
    journal.end("applied", changes=len(done))  # phase 6
    return Applied(p, journal.run)


def _roll_back(
    done: list[Step], executor: Executor, journal: Journal, failed: Outcome, audited: bool = True
) -> None:
    """Run the inverses of ``done``, newest first, then raise. ``audited`` False: the
    audit log has failed, so the inverses are run without records (the begin record
    already holds them) and the run stays unfinished for the next one to assess."""
    broken = []
    for step in reversed(done):
        back = executor.run(step.inverse)
        if back.returncode != 0:
            broken.append(
                f"{command_text(step.inverse)}: exit {back.returncode}: {back.stderr.strip()}"
            )
        elif audited:
            journal.rollback(step.record())
    failing = {
        "command": command_text(failed.argv),
        "exit": failed.returncode,
        "stderr": failed.stderr,
    }
    if audited:
        journal.end("rollback-failed" if broken else "rolled-back", failed=failing, broken=broken)
    raise EnactFailedError(failed, not broken, "; ".join(f"NOT rolled back: {b}" for b in broken))


def roll_back_unfinished(
    cluster: str, runner: CommandRunner, executor: Executor, store: Store, actor: str
) -> str:
    """Undo what a run cut short applied (its changes found at their after), newest
    first, with the inverses its journal recorded; returns what was found and done."""
    run = unfinished(store, cluster)
    if run is None:
        return "no unfinished run"
    found = assess(run, read_cluster(runner, cluster))
    journal = Journal(store, actor, cluster, run.run)
    for step in sorted((s for s in run.changes if s["n"] in found.applied), key=lambda s: -s["n"]):
        back = executor.run(step["inverse"])
        if back.returncode != 0:
            journal.end("rollback-failed", failed=command_text(back.argv), stderr=back.stderr)
            raise EnactFailedError(back, False, f"run {run.run} was {found.text()}")
        journal.rollback(step)
    journal.end("recovered-rolled-back", found=found.text())
    return f"run {run.run} was {found.text()}; rolled back {len(found.applied)} change(s)"
