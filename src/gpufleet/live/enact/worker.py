"""The enactment worker: at each tick, the register's desired state at now is applied to
one Slurm cluster through :func:`.slurm_apply.apply` (journal, lock, verify, rollback).

A tick (:meth:`EnactWorker.tick`), in numbered phases:

1. **clock**: the cluster's clock is read (the header ``Configuration data as of T`` of
   ``scontrol show config``, slurmctld's time when it answered); farther than
   ``max_skew`` from ours, the tick does nothing and says so (a safe wait). The
   service's clock governs the instant enacted (:mod:`.schedule`);
2. **lock**: the machine's flock and, on PostgreSQL, the register's advisory lock
   (:mod:`.lock`): a second worker on the same register waits (retries with back-off);
3. **recover**: a run that began and never ended (``kill -9`` mid-apply) is assessed
   against the cluster (old state, new state or partly) and said; its changes are then
   *finished forward* by this tick's apply, which closes it ``finished-by``. Forward and
   not back: the register's desired state at now is what the cluster must hold; rolling
   back would restore a state the register no longer wants, which the same tick would
   then have to redo (``gpufleet apply slurm --apply --rollback-unfinished`` remains an
   operator's choice);
4. **desired and split**: the desired state at now, the diff with the cluster, split into
   scheduled changes and drift (:func:`.schedule.split`) against the desired values of
   the last tick (after a restart: those journalled with the last run);
5. **drift**: each drift is found with its author (:mod:`.drift`) and audited once
   (``enact-drift``, keyed by target, attribute, value found and when it was changed);
6. **apply** the scheduled changes (with ``enforce``, the drift too);
7. **next wake**: success, ``every`` or sooner at the next transfer start or end; a failure
   (the cluster down, a refusal, the lock held), the back-off (:func:`.schedule.backoff_s`).

Each tick's outcome is kept in :class:`EnactState` (``GET /live/status``'s ``enact``) and
every change, rollback and drift is in the audit log (``gpufleet apply slurm --status``).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gpufleet.errors import BusyError, GpufleetError
from gpufleet.governance.store.db import Store
from gpufleet.live.enact.current import read_cluster
from gpufleet.live.enact.desired import desired_state
from gpufleet.live.enact.diff import Change
from gpufleet.live.enact.drift import DriftFinding, read_findings
from gpufleet.live.enact.journal import assess, unfinished
from gpufleet.live.enact.lock import cluster_lock
from gpufleet.live.enact.model import ClusterSettings, GpuLimitStyle, LeaseStyle
from gpufleet.live.enact.register import read_rows
from gpufleet.live.enact.schedule import (
    Key,
    backoff_s,
    next_wake,
    skew_s,
)
from gpufleet.live.enact.slurm_apply import Executor, apply
from gpufleet.live.enact.status import audit_drift, classify, journal_baseline
from gpufleet.live.errors import SourceError
from gpufleet.live.mapping import ClusterMapping
from gpufleet.live.runner import CommandRunner

log = logging.getLogger("gpufleet.live.enact")

ACTOR = "live:enact"
BASE_RETRY_S = 5.0
"""The first back-off step; doubled per failure up to ``retry_max``."""
_AS_OF = "Configuration data as of "


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


@dataclass(frozen=True)
class EnactOptions:
    cluster: str
    gpu_limits: str = "total"
    leases: str = "quota"
    every_s: float = 60.0
    enforce: bool = False
    max_skew_s: float = 30.0
    retry_max_s: float = 300.0

    def settings(self) -> ClusterSettings:
        return ClusterSettings(
            self.cluster, GpuLimitStyle(self.gpu_limits), LeaseStyle(self.leases)
        )


@dataclass(frozen=True)
class Attempt:
    at: str
    outcome: str  # applied, nothing-to-do, failed, busy, skew
    detail: str = ""
    run: str | None = None
    changes: int = 0


@dataclass(frozen=True)
class EnactState:
    cluster: str
    enforce: bool
    ticks: int = 0
    failures: int = 0  # in a row
    last: Attempt | None = None
    next_wake: str | None = None
    recovered: str | None = None  # what the last recovery found and did
    skew_s: float | None = None
    drift: tuple[DriftFinding, ...] = ()
    history: tuple[Attempt, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "enforce": self.enforce,
            "ticks": self.ticks,
            "failures_in_a_row": self.failures,
            "last": self.last.__dict__ if self.last else None,
            "next_wake": self.next_wake,
            "recovered": self.recovered,
            "skew_s": self.skew_s,
            "drift": [d.as_dict() for d in self.drift],
            "history": [a.__dict__ for a in self.history],
        }


class SkewError(GpufleetError):
    """The cluster's clock is too far from ours to enact at the right instant."""


def cluster_clock(text: str) -> datetime:
    """slurmctld's time from ``scontrol show config``'s first line (its local time,
    taken as UTC: the dev cluster's, and a cluster's controller normally runs in UTC)."""
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    if not first.startswith(_AS_OF):
        raise SourceError("scontrol show config", "", f"no {_AS_OF.strip()!r} line", _AS_OF)
    stamp = first[len(_AS_OF) :].strip()
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        raise SourceError(
            "scontrol show config", "", f"{stamp!r} is not a time", "an ISO 8601 time"
        ) from None


class EnactWorker:
    """Enacts the register on one cluster; :meth:`tick` runs one attempt and returns
    the seconds until the next. The clock and the random source are injected."""

    def __init__(
        self,
        store: Store,
        options: EnactOptions,
        mapping: ClusterMapping,
        runner: CommandRunner,
        executor: Executor,
        lock_path: Path,
        clock: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
        actor: str = ACTOR,
    ) -> None:
        self.store, self.options, self.mapping = store, options, mapping
        self.runner, self.executor, self.lock_path = runner, executor, lock_path
        self.clock, self.rng, self.actor = clock, rng or random.Random(), actor
        self.baseline: dict[Key, object] | None = None
        self.started = False
        self.state = EnactState(options.cluster, options.enforce)

    def tick(self) -> float:
        at = self.clock()
        try:
            wait, attempt = self._tick(at)
            failures = 0
        except (GpufleetError, OSError) as exc:
            failures = self.state.failures + 1
            outcome = "busy" if isinstance(exc, BusyError) else "failed"
            outcome = "skew" if isinstance(exc, SkewError) else outcome
            attempt = Attempt(at.isoformat(), outcome, f"{type(exc).__name__}: {exc}")
            wait = backoff_s(failures, BASE_RETRY_S, self.options.retry_max_s, self.rng.random())
            log.warning("enact %s: %s; next try in %.1f s", self.options.cluster, exc, wait)
        wake = (at + timedelta(seconds=wait)).isoformat()
        self.state = replace(
            self.state,
            ticks=self.state.ticks + 1,
            failures=failures,
            last=attempt,
            next_wake=wake,
            history=(*self.state.history, attempt)[-20:],
        )
        return wait

    def _tick(self, at: datetime) -> tuple[float, Attempt]:
        self._check_clock()  # phase 1
        cluster = self.options.cluster
        with cluster_lock(self.lock_path, self.store, cluster):  # phase 2
            self._recover()  # phase 3
            with self.store.read() as s:
                rows = read_rows(s)
            desired = desired_state(rows, self.mapping, self.options.settings(), at)  # phase 4
            if not self.started:  # after a (re)start: the journal's baseline
                self.baseline = journal_baseline(self.store, cluster)
            self.started = True
            plan = classify(
                self.store, self.runner, desired, self.options.enforce,
                self.baseline, from_journal=False,
            )  # fmt: skip
            self._drift(plan.drift, at)  # phase 5
            done = apply(  # phase 6
                desired, self.runner, self.executor, self.store, self.actor,
                keep=plan.keep, baseline=plan.baseline,
            )  # fmt: skip
            self.baseline = plan.values
        wait = (next_wake(rows.transfers, at, self.options.every_s) - at).total_seconds()  # 7
        n = len(done.plan.steps)
        outcome = "applied" if done.run else "nothing-to-do"
        return max(wait, 0.0), Attempt(at.isoformat(), outcome, "", done.run, n)

    def _check_clock(self) -> None:
        before = datetime.now(UTC).replace(tzinfo=None)
        text = self.runner.run(["scontrol", "show", "config"])
        after = datetime.now(UTC).replace(tzinfo=None)
        skew = skew_s(cluster_clock(text), before, after)
        self.state = replace(self.state, skew_s=round(skew, 1))
        if abs(skew) > self.options.max_skew_s:
            raise SkewError(
                f"the cluster's clock is {skew:+.0f} s from this service's (more than "
                f"max_skew {self.options.max_skew_s:g} s): nothing enacted; fix the clocks "
                "(NTP) or raise sources.slurm.enact.max_skew"
            )

    def _recover(self) -> None:
        run = unfinished(self.store, self.options.cluster)
        if run is None:
            return
        found = assess(run, read_cluster(self.runner, self.options.cluster))
        said = (
            f"run {run.run} (begun {run.at}) was cut short: {found.text()}; "
            "finished forward by this tick's apply"
        )
        log.warning("enact %s: %s", self.options.cluster, said)
        self.state = replace(self.state, recovered=said)

    def _drift(self, drift: tuple[Change, ...], at: datetime) -> None:
        found = read_findings(self.runner, self.options.cluster, drift, at)
        audit_drift(self.store, self.actor, self.options.cluster, found, self.options.enforce)
        self.state = replace(self.state, drift=found)
