"""The server's live poller: one observation of the configured sources every ``every``
of the server's live configuration file while the server runs (``gpufleet serve
--live-config FILE``), and on demand (``POST /api/v1/live/observe``, a fleet admin's).

A cycle is :func:`gpufleet.live.cycle.observe_cycle` (read the register, ask the sources
the file names, observe, store one sample standing for ``every``), the same as
``gpufleet observe`` runs; the sources are opened again for each cycle, so a source that
could not be opened once (slurmrestd's version discovery, a credential variable) is tried
again the next time. A source that fails is recorded by the cycle in the observation it
stores, and is not an error here. A cycle that raises (the store stayed locked, an empty
register, a bug) is logged and kept as :attr:`LiveState.last_error`; the next period
tries again, and the server goes on.

Cycles never overlap: the periodic one and a requested one take the same lock, and a
request that finds a cycle under way is refused (409 ``observation-running``) rather
than queued behind it. A request is also refused while the last cycle (periodic or
requested) began less than the file's ``min_interval`` ago (429 ``observation-too-soon``
with ``Retry-After``: the seconds until it may), checked under the same lock, so callers
cannot make the server ask Slurm and Prometheus more often than that, however many.
:meth:`LivePoller.stop` sets the stop flag and waits for the
cycle under way (a read of the sources is bounded by their own timeouts) to end.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gpufleet.domain import default_catalog
from gpufleet.errors import ConflictError, InputError, TooManyRequestsError
from gpufleet.governance.store.db import Store
from gpufleet.live.config import LiveSettings
from gpufleet.live.cycle import CycleResult, observe_cycle, open_sources
from gpufleet.live.enact.lock import default_lock_path
from gpufleet.live.enact.slurm_apply import SubprocessExecutor
from gpufleet.live.enact.worker import EnactOptions, EnactState, EnactWorker
from gpufleet.live.findings import SuggestionRules
from gpufleet.live.mapping import parse_mapping
from gpufleet.live.runner import SubprocessRunner
from gpufleet.live.slurm import JobDetails

log = logging.getLogger("gpufleet.service.live")

MIN_EVERY_S = 5.0
"""The shortest ``every`` the server polls at: one cycle on the dev cluster takes 0.4 s
(docs/live.md), sacctmgr most of it; a period shorter than a few cycles would only load
the scheduler's controller."""
ACTOR = "live:serve"
DEFAULT_RULES = SuggestionRules()


@dataclass(frozen=True)
class LiveState:
    """What the poller has done: for ``GET /live/status`` and the Live page."""

    config: str  # the file's name as given to serve (the server's, not the caller's)
    every_s: float | None  # None: no periodic polling, on demand only
    cycles: int = 0
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None
    last_duration_s: float | None = None
    last_error: str | None = None  # the last cycle's, when it raised
    enact: dict[str, Any] | None = None  # the enactment worker's state, if it runs

    def as_dict(self) -> dict[str, object]:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat().replace("+00:00", "Z") if t else None

        return {
            "config": self.config,
            "every_s": self.every_s,
            "cycles": self.cycles,
            "last_started_at": iso(self.last_started_at),
            "last_finished_at": iso(self.last_finished_at),
            "last_duration_s": self.last_duration_s,
            "last_error": self.last_error,
            "enact": self.enact,
        }


class LivePoller:
    """Runs ``cycle`` every ``every_s`` seconds on a thread of its own (``every_s`` None:
    only when asked, :meth:`once`); ``config`` names the server's file for the state,
    ``rules`` are its rules for suggesting leases."""

    def __init__(
        self,
        cycle: Callable[[], CycleResult],
        every_s: float | None,
        config: Path,
        rules: SuggestionRules = DEFAULT_RULES,
        min_interval_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        enact: EnactLoop | None = None,
    ) -> None:
        self.cycle = cycle
        self.enact = enact
        self.every_s = every_s
        self.rules = rules
        self.min_interval_s = min_interval_s
        self.clock = clock
        self._last_start: float | None = None  # the clock's, under self._lock
        self._state = LiveState(str(config), every_s)
        self._lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gpufleet-live", daemon=True)

    @property
    def state(self) -> LiveState:
        with self._state_lock:
            state = self._state
        return replace(state, enact=self.enact.state().as_dict()) if self.enact else state

    def start(self) -> None:
        if self.every_s is not None:
            self._thread.start()
        if self.enact is not None:
            self.enact.start()

    def stop(self) -> None:
        """Stop polling; returns once the cycle under way, if any, has ended."""
        self._stop.set()
        if self.enact is not None:
            self.enact.stop()
        if self._thread.is_alive():
            self._thread.join()
        log.info("live poller stopped after %d cycles", self.state.cycles)

    def once(self) -> CycleResult:
        """One cycle now; :class:`ConflictError` (409) if one is under way."""
        if not self._lock.acquire(blocking=False):
            raise ConflictError(
                "an observation of the sources is under way: its result is stored when it "
                "ends (GET /api/v1/live/status); ask again after it",
                "observation-running",
            )
        try:
            self._check_interval()
            return self._run()
        finally:
            self._lock.release()

    def _check_interval(self) -> None:
        """:class:`TooManyRequestsError` (429) while the last cycle began less than
        ``min_interval_s`` ago."""
        if self._last_start is None:
            return
        wait = self.min_interval_s - (self.clock() - self._last_start)
        if wait > 0:
            raise TooManyRequestsError(
                f"the sources were observed {self.min_interval_s - wait:.1f} s ago: this "
                f"server observes at most once every {self.min_interval_s:g} s (the live "
                f"configuration's min_interval); ask again in {math.ceil(wait)} s",
                math.ceil(wait),
                "observation-too-soon",
            )

    def _run(self) -> CycleResult:
        self._last_start = self.clock()
        started, t0 = datetime.now(UTC), time.monotonic()
        error: str | None = None
        try:
            return self.cycle()
        except Exception as e:
            error = f"{type(e).__name__}: {e}"
            raise
        finally:
            with self._state_lock:
                self._state = replace(
                    self._state,
                    cycles=self._state.cycles + 1,
                    last_started_at=started,
                    last_finished_at=datetime.now(UTC),
                    last_duration_s=round(time.monotonic() - t0, 3),
                    last_error=error,
                )

    def _loop(self) -> None:
        assert self.every_s is not None
        while not self._stop.is_set():
            with self._lock:
                if self._stop.is_set():
                    break
                try:
                    self._run()
                except Exception:  # recorded in the state; the server must not die of it
                    log.exception("live observation failed")
            self._stop.wait(self.every_s)


class EnactLoop:
    """Runs an :class:`EnactWorker`'s ticks on a thread of its own, sleeping what each
    tick returns (the next tick, a transfer's start or end, or the back-off); a tick
    never raises (its failures are its state's)."""

    def __init__(self, worker: EnactWorker) -> None:
        self.worker = worker
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="gpufleet-enact", daemon=True)

    def state(self) -> EnactState:
        return self.worker.state

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.worker.tick()
            except Exception:  # a bug: logged, and tried again a period later
                log.exception("enact tick failed")
                wait = self.worker.options.every_s
            self._stop.wait(wait)


def enact_loop_for(store: Store, settings: LiveSettings) -> EnactLoop | None:
    """The worker ``sources.slurm.enact`` asks for, or None."""
    slurm = settings.model.sources.slurm
    if slurm is None or slurm.enact is None:
        return None
    e = slurm.enact
    options = EnactOptions(
        e.cluster, e.gpu_limits, e.leases, e.every, e.enforce, e.max_skew, e.retry_max
    )
    mapping = parse_mapping(settings.mapping_text, str(settings.mapping_path), default_catalog())
    env = dict(slurm.env)
    worker = EnactWorker(
        store, options, mapping, SubprocessRunner(env, slurm.timeout),
        SubprocessExecutor(env, slurm.timeout), default_lock_path(e.cluster),
    )  # fmt: skip
    return EnactLoop(worker)


def poller_for(store: Store, settings: LiveSettings, periodic: bool = True) -> LivePoller:
    """The server's poller of the sources ``settings`` names, every ``every`` of the file
    (``periodic`` False: only when asked); a period under :data:`MIN_EVERY_S` is refused
    naming the file and the field."""
    every = settings.model.every
    if periodic and not every >= MIN_EVERY_S:
        raise InputError(
            f"{settings.path}: every: {every:g}s is shorter than the server polls "
            f"(expected {MIN_EVERY_S:g}s or more; `gpufleet observe --every` takes less)"
        )

    details = JobDetails()  # kept from cycle to cycle: each running job looked up once

    def cycle() -> CycleResult:
        sources = open_sources(settings, details=details)
        return observe_cycle(store, settings, sources, actor=ACTOR)

    return LivePoller(
        cycle,
        every if periodic else None,
        settings.path,
        settings.suggest,
        settings.model.min_interval,
        enact=enact_loop_for(store, settings) if periodic else None,
    )


def result_json(done: CycleResult) -> dict[str, Any]:
    """What ``POST /live/observe`` answers: the sample stored and the sources that failed."""
    obs, stored = done.observation, done.ingested
    return {
        "at": obs.at.isoformat().replace("+00:00", "Z"),
        "sample_id": stored.sample_id,
        "rows": stored.rows,
        "merged": stored.merged,
        "expired": stored.expired,
        "read_s": round(done.read_s, 3),
        "store_s": round(done.store_s, 3),
        "failures": [
            {"source": f.source, "asked": f.asked, "error": f.error} for f in obs.failures
        ],
    }
