"""Background runs: assessments and what-ifs, queued as ``runs`` rows and executed by a
worker thread, so that an API request never waits for a simulation.

A run goes ``queued -> running -> done | failed``:

- :func:`queue_whatif` (and :func:`gpufleet.governance.transfers.lifecycle.queue_assessment`) add a
  ``queued`` row, after checking the request against the current plan;
- :func:`claim_next` takes the next queued run, round robin by entity
  (:mod:`.fairness`), and marks it ``running`` atomically, counting the attempt
  (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several servers never take the same run;
  on SQLite the writer lock is enough);
- :func:`execute` reads the plan in one short read, simulates outside any transaction in
  a child process within the run's :class:`~.budget.RunBudget` (time and memory), then
  stores the result (JSON) and, for an assessment, moves its transfer to ``assessed``.
  Any failure, a budget overrun included, is stored as ``failed`` with its message, never
  dropped (an assessment's transfer stays ``requested``, to be assessed again);
- :func:`recover`: runs left ``running`` by a killed server go back to ``queued``, once:
  a run that has been started ``max_attempts`` times already (it may be what kills the
  server) is ``failed`` instead (call it at start-up when this is the only server of the
  database).

What a run may ask for is bounded before it is queued (:mod:`gpufleet.inputs.scenario.limits`):
each arm within the engine's per-simulation limits, and ``arms x seeds`` simulations
within :data:`~gpufleet.inputs.scenario.limits.MAX_JOBS_PER_RUN` jobs; an entity has at most
:data:`~.fairness.MAX_ACTIVE_RUNS` runs queued or running (:func:`.fairness.require_room`).

A run's audit records are written by actor ``system:run-<id>``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from gpufleet.domain.scenario import Scenario
from gpufleet.errors import ConflictError, GpufleetError, InputError, NotFoundError, Problem
from gpufleet.governance.register.plan import plan_scenario
from gpufleet.governance.runs import fairness
from gpufleet.governance.runs.budget import DEFAULT_BUDGET, RunBudget, RunBudgetError, run_within
from gpufleet.governance.runs.kinds import (
    BASE,
    DEFAULT_SEEDS,
    MAX_SEEDS,
    RUN_KINDS,
    Prepared,
    RunKind,
    json_safe,
    seed_list,
)
from gpufleet.governance.store.audit import row_dict
from gpufleet.governance.store.db import Store, Tx, now
from gpufleet.governance.store.models import Run, RunStatus
from gpufleet.governance.store.replay import result_digest
from gpufleet.inputs.scenario.limits import require_runnable
from gpufleet.inputs.scenario.schema import NonNeg, Strict
from gpufleet.planning.whatif.apply import apply_changes
from gpufleet.planning.whatif.changes import PARSERS, Change
from gpufleet.planning.whatif.compare import compare

log = logging.getLogger(__name__)


def actor_of(run_id: int) -> str:
    return f"system:run-{run_id}"


class WhatIfBody(Strict):
    """A what-if request: changes in the CLI's short forms, by kind (``move``, ``quota``,
    ``weight``, ``deliver``, ``delay``, ``policy``, ``scale``; see
    :mod:`gpufleet.planning.whatif.changes`), applied to the plan; both arms run over ``seeds``."""

    changes: dict[str, list[str]]
    name: Annotated[str, Field(min_length=1, max_length=100)] = "changes"
    seeds: Annotated[int, Field(ge=1, le=MAX_SEEDS)] = DEFAULT_SEEDS
    markup: NonNeg = 0.0
    market_rate: NonNeg | None = None


def whatif_body(request: Mapping[str, Any]) -> WhatIfBody:
    try:
        body = WhatIfBody.model_validate(dict(request))
    except ValidationError as e:
        problems = [
            Problem(".".join(str(p) for p in err["loc"]) or "(body)", err["msg"])
            for err in e.errors()
        ]
        raise InputError("the what-if request has problems", problems) from None
    unknown = sorted(set(body.changes) - set(PARSERS))
    if unknown:
        raise InputError(f"changes: unknown kind(s) {unknown}; kinds: {', '.join(PARSERS)}")
    if not any(body.changes.values()):
        raise InputError("changes: none given; e.g. {'move': ['16 H100 acme->beta 2024-01-03']}")
    return body


def _changes(body: WhatIfBody) -> list[tuple[Change, str]]:
    return [(PARSERS[k](text), text) for k, texts in body.changes.items() for text in texts]


def _whatif_arm(base: Scenario, body: WhatIfBody) -> Scenario:
    return apply_changes(base, _changes(body), f"{base.name} [{body.name}]")


def queue_whatif(
    tx: Tx,
    request: Mapping[str, Any],
    entity_id: int | None = None,
    cap: int = fairness.MAX_ACTIVE_RUNS,
) -> Run:
    """Queue a what-if on the plan; the changes are parsed and applied to the current plan
    now, so a bad one (or one too big to simulate) is refused here (InputError naming it)
    rather than failing later. ``entity_id``: the entity on whose behalf it runs (its
    tokens may see it); it may have ``cap`` runs queued or running (else
    TooManyRequestsError ``too-many-runs``)."""
    body = whatif_body(request)
    if body.name == BASE:
        raise InputError(f"name: {body.name!r} is the base arm's; choose another")
    fairness.require_room(tx.session, entity_id, cap)
    base = plan_scenario(tx.session)
    arm = _whatif_arm(base, body)
    require_runnable({BASE: base, body.name: arm}, body.seeds, "the what-if")
    run = Run(
        kind="whatif",
        status=RunStatus.QUEUED.value,
        request=body.model_dump(mode="json"),
        created_by=tx.actor,
        created_at=now(),
        entity_id=entity_id,
    )
    tx.session.add(run)
    tx.session.flush()
    tx.audit("queue", "run", run.id, None, row_dict(run))
    return run


# --- claiming and executing -----------------------------------------------------------


def claim_next(store: Store) -> Run | None:
    """The next queued run (round robin by entity, :func:`.fairness.next_run_id`), now
    ``running`` with one more attempt counted; None when nothing is queued."""
    with store.read() as s:
        if s.scalar(select(Run.id).where(Run.status == RunStatus.QUEUED.value).limit(1)) is None:
            return None  # nothing to do: no need to take the writer lock
    with store.write("system:runner") as tx:
        run = _lock_next(tx)
        if run is None:
            return None
        tx.actor = actor_of(run.id)
        before = row_dict(run)
        run.status, run.started_at = RunStatus.RUNNING.value, now()
        run.attempts = (run.attempts or 0) + 1
        tx.session.flush()
        tx.audit("start", "run", run.id, before, row_dict(run))
        return run


def _lock_next(tx: Tx) -> Run | None:
    """The next run, locked; another server may take the chosen one first (PostgreSQL):
    then choose again."""
    for _ in range(5):
        run_id = fairness.next_run_id(tx.session)
        if run_id is None:
            return None
        run = tx.session.scalars(
            select(Run)
            .where(Run.id == run_id, Run.status == RunStatus.QUEUED.value)
            .with_for_update(skip_locked=True)
        ).first()
        if run is not None:
            return run
    return None


def _runnable(store: Store, run_id: int) -> None:
    with store.read() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise NotFoundError("run", run_id)
        if run.status not in (RunStatus.QUEUED.value, RunStatus.RUNNING.value):
            raise ConflictError(f"run {run_id} is already {run.status}", code="bad-state")


def _kind(run: Run) -> RunKind:
    if run.kind not in RUN_KINDS:
        kinds = ", ".join(sorted(RUN_KINDS))
        raise InputError(f"run {run.id}: unknown kind {run.kind!r}; kinds: {kinds}")
    return RUN_KINDS.get(run.kind)


def _prepare(store: Store, run_id: int) -> Prepared:
    """Everything the run needs from the store, read in one short transaction."""
    with store.read() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise NotFoundError("run", run_id)
        p = _kind(run).prepare(s, run)
    require_runnable({BASE: p.base, p.arm_name: p.arm}, p.seeds, f"run {run_id}")
    return p


def _compute(p: Prepared) -> dict[str, Any]:
    return p.compute(p)


def _prepare_whatif(s: Session, run: Run) -> Prepared:
    body = whatif_body(dict(run.request))
    base = plan_scenario(s)
    arm = _whatif_arm(base, body)
    return Prepared(
        _compute_whatif, base, arm, body.name, body.seeds, body.markup, body.market_rate
    )


def _compute_whatif(p: Prepared) -> dict[str, Any]:
    arms = {BASE: p.base, p.arm_name: p.arm}
    c = compare(BASE, arms, seed_list(p.base, p.seeds), 1, None, p.market_rate, p.markup)
    out: dict[str, Any] = json_safe({"comparison": c.to_dict()})
    return out


RUN_KINDS.add("whatif", RunKind(_prepare_whatif))


def _message(e: BaseException) -> str:
    if isinstance(e, InputError):
        return e.render()
    if isinstance(e, GpufleetError):
        return str(e)
    return f"{type(e).__name__}: {e}"


def _finish(tx: Tx, run_id: int, status: RunStatus, result: Any, error: str) -> Run:
    run = tx.session.get(Run, run_id)
    if run is None:
        raise NotFoundError("run", run_id)
    before = row_dict(run)
    run.status, run.result, run.error, run.finished_at = status.value, result, error, now()
    if run.started_at is None:
        run.started_at = run.finished_at
    tx.session.flush()
    tx.audit("finish", "run", run.id, before, audited_run(run))
    return run


def audited_run(run: Run) -> dict[str, Any]:
    """A finished run as its audit record holds it: the result (a whole comparison, often
    hundreds of kB) by its SHA-256 and size, so the log commits to the stored result
    without copying it; :func:`result_digest` of the stored result must match."""
    d = row_dict(run)
    if run.result is not None:
        d["result"] = result_digest(run.result)
    return d


def execute(store: Store, run_id: int, budget: RunBudget = DEFAULT_BUDGET) -> Run:
    """Run ``run_id`` (queued or running) to its end within ``budget`` and store the
    outcome: ``done`` with the result, or ``failed`` with the error's message (past its
    budget: "ran past its 600 s budget", "used more than its 2048 MB budget"). Returns
    the stored run. Raises only for a run that does not exist (NotFoundError) or has
    finished (ConflictError ``bad-state``)."""
    actor = actor_of(run_id)
    _runnable(store, run_id)
    try:
        prepared = _prepare(store, run_id)
        result = run_within(_compute, prepared, budget)
    except Exception as e:
        return _store_failure(store, run_id, e)
    try:
        with store.write(actor) as tx:
            run = _finish(tx, run_id, RunStatus.DONE, result, "")
            record = RUN_KINDS.get(run.kind).record
            if record is not None:
                record(tx, run)
            return run
    except ConflictError as e:  # the transfer moved on meanwhile: keep the result anyway
        result = {**result, "not_recorded": str(e)}
        with store.write(actor) as tx:
            return _finish(tx, run_id, RunStatus.DONE, result, "")
    except Exception as e:
        return _store_failure(store, run_id, e)


def _store_failure(store: Store, run_id: int, e: BaseException) -> Run:
    if not isinstance(e, GpufleetError):
        log.exception("run %s failed", run_id, exc_info=e)
    with store.write(actor_of(run_id)) as tx:
        return _finish(tx, run_id, RunStatus.FAILED, None, _message(e))


def recover(store: Store, max_attempts: int = DEFAULT_BUDGET.max_attempts) -> list[int]:
    """Runs left ``running`` (their server was killed) go back to ``queued``, unless they
    have been started ``max_attempts`` times: those are ``failed`` (a run that takes its
    server down each time must not do it for ever). The ids of the runs requeued."""
    requeued = []
    with store.write("system:recover") as tx:
        stuck = list(tx.session.scalars(select(Run).where(Run.status == RunStatus.RUNNING.value)))
        for run in stuck:
            if (run.attempts or 0) >= max_attempts:
                error = RunBudgetError(
                    f"the server stopped while running this run {run.attempts} times "
                    f"(at most {max_attempts} attempts): not run again"
                )
                _finish(tx, run.id, RunStatus.FAILED, None, str(error))
                continue
            before = row_dict(run)
            run.status, run.started_at = RunStatus.QUEUED.value, None
            tx.session.flush()
            tx.audit("requeue", "run", run.id, before, row_dict(run))
            requeued.append(run.id)
    return requeued


# --- the worker -----------------------------------------------------------------------


class WorkerLease:
    """At most one run worker per database. Only the lease holder executes runs, and only
    it calls :func:`recover` (a run left ``running`` is then surely its dead predecessor's,
    not another live server's). PostgreSQL: a session advisory lock held on a dedicated
    connection, released by the server when that connection ends (the process dies).
    SQLite: an exclusive ``flock`` on ``<database file>.worker-lock``, released by the
    kernel when the process dies. An in-memory SQLite database has one process anyway."""

    _PG_KEY = 740_226_002

    def __init__(self, store: Store) -> None:
        self.store = store
        self._conn: Any = None
        self._file: Any = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._file is not None

    def acquire(self) -> bool:
        if self.held:
            return True
        if self.store.backend == "postgresql":
            conn = self.store.engine.connect()
            conn.detach()  # closing it must end the session (and the lock), not pool it
            got = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({self._PG_KEY})").scalar()
            conn.commit()
            if got:
                self._conn = conn
            else:
                conn.close()
            return bool(got)
        db = self.store.engine.url.database
        if not db or db == ":memory:":
            self._file = True
            return True
        import fcntl

        f = open(f"{db}.worker-lock", "a")  # noqa: SIM115 (held open while leased)
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        self._file = f
        return True

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()  # ends the session: the advisory lock goes with it
            self._conn = None
        if self._file is not None and self._file is not True:
            self._file.close()
        self._file = None


class RunWorker:
    """A daemon thread that claims and executes queued runs one at a time: it looks every
    ``poll_s`` seconds, or at once after :meth:`wake` (call it after queueing a run).
    It first takes the database's :class:`WorkerLease` (waiting while another server holds
    it), then puts back in the queue the runs a killed predecessor left running
    (:func:`recover`, up to ``budget.max_attempts``). Each run is executed within
    ``budget``. :meth:`stop` waits for the current run up to ``timeout`` seconds; a run
    cut short stays ``running`` until the next lease holder recovers it."""

    def __init__(
        self, store: Store, poll_s: float = 2.0, budget: RunBudget = DEFAULT_BUDGET
    ) -> None:
        self.store = store
        self.poll_s = poll_s
        self.budget = budget
        self.lease = WorkerLease(store)
        self.recovered: list[int] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="gpufleet-runs", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self) -> int | None:
        """Claim and execute one queued run; its id, or None when none was queued."""
        run = claim_next(self.store)
        if run is None:
            return None
        execute(self.store, run.id, self.budget)
        return run.id

    def _take_lease(self) -> bool:
        """Hold the lease (recovering once it is taken); False while another server has it."""
        if self.lease.held:
            return True
        if not self.lease.acquire():
            return False
        self.recovered = recover(self.store, self.budget.max_attempts)
        if self.recovered:
            log.info("requeued runs %s, left running by a previous server", self.recovered)
        return True

    def _loop(self) -> None:
        try:
            self._serve()
        finally:
            self.lease.release()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                if not self._take_lease():
                    self._wake.wait(self.poll_s)
                    self._wake.clear()
                    continue
                did = self.run_once()
            except Exception:  # the database went away: log, wait, try again
                log.exception("run worker: claiming or executing a run failed")
                did = None
            if did is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
