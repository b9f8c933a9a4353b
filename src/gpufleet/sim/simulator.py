"""The discrete-event simulator: the engine under a simulated clock.

The kernel is a binary heap of ``(time, kind, seq, payload)``: events at the same time
pop in a fixed order (capacity changes, then completions, then arrivals, then node events,
then wake-ups) and, within a kind, in the order they were scheduled (arrivals: in
:func:`_arrival_key`'s order, which their ``seq`` encodes), so a seed always gives the same
history. After all events of one instant are handled, the engine runs one
scheduling cycle. Time jumps from event to event; nothing happens in fixed rounds.

A policy that needs a time-driven decision sets ``Decision.wake_at``: a wake-up event then
marks the cohorts of that cycle dirty at that instant, so a cycle runs there. Each cohort
keeps one pending wake-up, the latest asked for; an event for an older one is stale and
does nothing (as a completion with an old token does).

Arrivals are streamed: each program's workload is an iterator in submit order and only its
next arrival sits in the heap, so memory holds the jobs alive now, not the whole trace.

A run may start from a fleet already at work (:meth:`Simulation.start_from`, the live
forecast's host): the changes of time 0 apply, nodes named down fail, running jobs are put
back on their GPUs with their ends as completions, the pending queue is submitted (submit
times may lie before 0, so ages count from them), and one cycle runs at 0, as after any
instant's events. A run that does not call it is unchanged.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from gpufleet.domain.ids import JobId, ProgramId
from gpufleet.domain.jobs import JobDraft, JobSpec, spec_of
from gpufleet.domain.scenario import Scenario
from gpufleet.engine.engine import Engine
from gpufleet.engine.explain import find_job
from gpufleet.engine.timeline import Running, apply_change, build_state, resume, timeline
from gpufleet.errors import InternalError
from gpufleet.policies.base import Policy
from gpufleet.policies.registry import build_policy, make_policy
from gpufleet.sim.costs import CostRates
from gpufleet.sim.metrics import RunStats
from gpufleet.sim.recorder import Recorder
from gpufleet.sim.result import SimResult, build_result
from gpufleet.state.jobs import Job

_CHANGE, _DONE, _ARRIVE, _NODE, _WAKE = 0, 1, 2, 3, 4
_FAIL, _REPAIR = 0, 1

Progress = Callable[[float], None]


def program_seed(seed: int, index: int) -> int:
    """Independent, reproducible stream per program (NumPy SeedSequence spawning)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


class Simulation:
    def __init__(
        self,
        scenario: Scenario,
        policy: Policy | None = None,
        seed: int | None = None,
        progress: Progress | None = None,
        bucket_s: float | None = None,
    ) -> None:
        self.sc = scenario
        self.seed = scenario.seed if seed is None else seed
        self.policy = policy or build_policy(scenario.policy)  # its options were checked at load
        self.progress = progress
        self.state = build_state(scenario)
        horizon = scenario.horizon_s
        self.bucket_s = bucket_s or (86_400.0 if horizon >= 20 * 86_400 else 3_600.0)
        speed: dict[str, float] = {t.name: t.throughput for t in scenario.catalog}
        targets: dict[str, float | None] = {
            p.name: (p.milestone.gpu_hours * 3600.0 if p.milestone else None)
            for p in scenario.programs()
        }
        cost = scenario.cost
        rates = CostRates(
            cost.life_years,
            cost.idle_power_fraction,
            {t.name: t.board_power_w for t in scenario.catalog},
            {x.name: x.pue for x in scenario.sites},
            {x.name: x.electricity_usd_per_kwh for x in scenario.sites},
            cost.itemized,
        )
        self.recorder = Recorder(self.state, horizon, self.bucket_s, targets, speed, rates)
        self.engine = Engine(self.state, self.policy, scenario.catalog, self, self.recorder)
        self._heap: list[tuple[float, int, int, Any]] = []
        self._seq = itertools.count()
        self.events = 0
        self.node_failures = 0
        self.submitted = 0  # jobs submitted so far; job ids are 0 .. submitted - 1
        self.now_s = 0.0  # run_until has handled every event up to here
        self.wall_s = 0.0
        self._primed = False  # _prime has put the timeline and first arrivals in the heap
        self._wake: dict[str, float] = {}  # cohort -> its pending wake-up instant

    # --- Executor (the engine calls these) ----------------------------------------------
    def launch(self, job: Job, now_s: float, run_s: float) -> None:
        heapq.heappush(self._heap, (now_s + run_s, _DONE, next(self._seq), (job, job.token)))

    def halt(self, job: Job, now_s: float) -> None:
        """Nothing to cancel: the completion event carries the run's token and goes stale."""

    # --- the run -------------------------------------------------------------------------
    def run(self) -> SimResult:
        """The whole horizon, closed into a result."""
        self.run_until(self.sc.horizon_s)
        return self.finish()

    def run_until(self, t_s: float) -> None:
        """Handle every event at or before ``t_s`` (each instant followed by its cycle), and
        stop there with the state as it is: later events stay queued, nothing is closed, so
        a caller may inspect ``state`` and call again with a later time. ``t_s`` is capped
        at the horizon."""
        wall0 = time.perf_counter()
        if not self._primed:
            self._prime()
        heap, engine = self._heap, self.engine
        n_streams = len(self.sc.workloads)
        on_submit = self.recorder.on_submit
        horizon = self.sc.horizon_s
        stop = min(t_s, horizon)
        programs = self.state.program_by_name
        next_id = self.submitted
        events = self.events
        report_every = events + 50_000
        pop, push = heapq.heappop, heapq.heappush
        while heap:
            t = heap[0][0]
            if t > stop:
                break
            while heap and heap[0][0] == t:
                _, kind, _, payload = pop(heap)
                events += 1
                if kind == _DONE:
                    job: Job = payload[0]
                    if job.token == payload[1]:
                        engine.complete(job, t)
                elif kind == _ARRIVE:
                    # payload: the stream's head [draft, program, stream, index], reused
                    draft: JobDraft = payload[0]
                    prog: ProgramId = payload[1]
                    spec = spec_of(JobId(next_id), prog, draft)
                    next_id += 1
                    engine.submit(Job(spec, programs[prog]))
                    on_submit(t)
                    nxt = next(payload[2], None)
                    if nxt is not None:
                        payload[0] = nxt
                        key = nxt.source_row * n_streams + payload[3]
                        push(heap, (nxt.submit_s, _ARRIVE, key, payload))
                elif kind == _NODE:
                    self._node_event(payload, t)
                elif kind == _WAKE:
                    self._wake_up(payload, t)
                else:
                    apply_change(engine, payload)  # its instant is t
            wake_at = engine.cycle(t).wake_at
            if wake_at is not None:
                self._ask_wake(wake_at, t)
            if self.progress is not None and events >= report_every:
                report_every = events + 50_000
                self.progress(t / horizon if horizon else 1.0)
        self.events = events
        self.submitted = next_id
        self.now_s = max(self.now_s, stop)
        self.wall_s += time.perf_counter() - wall0

    def finish(self) -> SimResult:
        """Run to the horizon if not there yet, close the integrals, build the result."""
        horizon = self.sc.horizon_s
        if self.now_s < horizon or not self._primed:
            self.run_until(horizon)
        self.recorder.close(horizon)
        if self.progress is not None:
            self.progress(1.0)
        run = RunStats(self.wall_s, self.events, self.engine.cycles)
        return build_result(
            self.sc,
            self.recorder,
            self.policy.name,
            self.seed,
            run,
            self.submitted,
            self.node_failures,
        )

    def start_from(
        self,
        running: Sequence[Running],
        pending: Sequence[JobSpec],
        down_nodes: Iterable[int] = (),
    ) -> list[Job]:
        """Start the run from a fleet at work (the module docstring): ``running`` and
        ``pending`` carry job ids 0 .. n - 1 (running first), the ids later arrivals
        continue from. Call it once, before :meth:`run_until`. Returns the jobs by id, so
        that the host can read each one's fate after the run."""
        if self._primed:
            raise InternalError("start_from called after the run began")
        self._prime()
        heap, engine = self._heap, self.engine
        while heap and heap[0][0] <= 0.0 and heap[0][1] == _CHANGE:
            apply_change(engine, heapq.heappop(heap)[3])
            self.events += 1
        for node in down_nodes:
            engine.fail_node(node, 0.0)
        programs = self.state.program_by_name
        jobs: list[Job] = []
        for r in running:
            self._check_id(r.spec, len(jobs))
            jobs.append(Job(r.spec, programs[r.spec.program]))
            resume(engine, jobs[-1], r, 0.0)
        for spec in pending:
            self._check_id(spec, len(jobs))
            jobs.append(Job(spec, programs[spec.program]))
            engine.submit(jobs[-1])
        self.submitted = len(jobs)
        wake_at = engine.cycle(0.0).wake_at
        if wake_at is not None:
            self._ask_wake(wake_at, 0.0)
        return jobs

    @staticmethod
    def _check_id(spec: JobSpec, expected: int) -> None:
        if spec.id != expected:
            raise InternalError(f"start_from: job id {spec.id} given where {expected} is next")

    def _prime(self) -> None:
        heap, seq = self._heap, self._seq
        for c in timeline(self.sc):
            heapq.heappush(heap, (c.t_s, _CHANGE, next(seq), c))
        self.recorder.on_capacity(self.state, 0.0)
        self._primed = True
        self._schedule_first_failure()
        self._push_first_arrivals()

    def _push_first_arrivals(self) -> None:
        """Each program's workload stream keeps its next arrival in the heap (the others
        wait in their iterators). Their key ``(submit_s, _ARRIVE, source_row * streams +
        stream)`` pops them in :func:`_arrival_key`'s order, ties going to the earlier
        stream, as a stable merge of the streams would, without a merge generator between
        the streams and the heap: the head's payload list is reused for the stream's next
        draft, as only one of a stream's arrivals is ever queued."""
        n = len(self.sc.workloads)
        for i, (prog, factory) in enumerate(self.sc.workloads):
            stream = iter(factory(program_seed(self.seed, i)))
            first = next(stream, None)
            if first is not None:
                head: list[Any] = [first, prog, stream, i]
                key = first.source_row * n + i
                heapq.heappush(self._heap, (first.submit_s, _ARRIVE, key, head))

    def job(self, job_id: int) -> Job | None:
        """A submitted job that is pending or running now (a scan of the queues)."""
        return find_job(self.state, job_id)

    # --- wake-ups (Decision.wake_at) ----------------------------------------------------
    def _ask_wake(self, at_s: float, now_s: float) -> None:
        """The last cycle's cohorts want a cycle at ``at_s``; it replaces what they asked
        before. A time not after now is ignored (a cycle at now just ran)."""
        if at_s <= now_s:
            return
        cohorts = self.engine.wake_cohorts
        wake = self._wake
        if all(wake.get(c) == at_s for c in cohorts):
            return
        for c in cohorts:
            wake[c] = at_s
        heapq.heappush(self._heap, (at_s, _WAKE, next(self._seq), cohorts))

    def _wake_up(self, cohorts: tuple[str, ...], t: float) -> None:
        wake, dirty = self._wake, self.state.dirty
        for c in cohorts:
            if wake.get(c) == t:
                del wake[c]
                dirty.add(c)

    # --- node failures (scenario.failures) ------------------------------------------------
    def _schedule_first_failure(self) -> None:
        """Failures are a Poisson process over all nodes at rate nodes / MTBF; a draw that
        lands on a node not powered or already down is void, so each powered node fails
        at rate 1 / MTBF. Their own random stream keeps workloads identical across runs
        with and without failures."""
        fm = self.sc.failures
        n_nodes = len(self.state.node_owner)
        if fm is None or n_nodes == 0:
            return
        self._frng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x0FA11]))
        self._fail_gap_s = fm.node_mtbf_hours * 3600.0 / n_nodes
        self._push_failure(0.0)

    def _push_failure(self, now_s: float) -> None:
        t = now_s + float(self._frng.exponential(self._fail_gap_s))
        heapq.heappush(self._heap, (t, _NODE, next(self._seq), (_FAIL, -1)))

    def _node_event(self, payload: tuple[int, int], t: float) -> None:
        what, node = payload
        if what == _REPAIR:
            self.engine.repair_node(node, t)
            return
        fm = self.sc.failures
        assert fm is not None
        victim = int(self._frng.integers(len(self.state.node_owner)))
        if self.engine.fail_node(victim, t):
            self.node_failures += 1
            heapq.heappush(
                self._heap,
                (t + fm.repair_hours * 3600.0, _NODE, next(self._seq), (_REPAIR, victim)),
            )
        self._push_failure(t)


def _arrival_key(dp: tuple[JobDraft, ProgramId]) -> tuple[float, int]:
    """The order of arrivals (the heap keys of :meth:`Simulation._push_first_arrivals`
    encode it): by submit time, then by the row of the trace they come from: jobs of
    one trace submitted at the same instant arrive in the source's order whichever
    programs (queues) they were split into. Generated jobs all have row 0, so their ties
    keep the order of the streams, as ``heapq.merge`` is stable."""
    d = dp[0]
    return d.submit_s, d.source_row


def simulate(
    scenario: Scenario,
    policy: str | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
) -> SimResult:
    """Run one scenario (optionally under another policy or seed) and return its result."""
    pol = make_policy(policy) if policy else None
    return Simulation(scenario, pol, seed, progress).run()
