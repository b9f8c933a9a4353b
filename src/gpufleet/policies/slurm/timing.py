"""When Slurm's schedulers act: the main scheduler's passes, the backfill passes and the
priority recalculations, as instants of the run (seconds from its start).

Sources, Slurm 22.05 (tag slurm-22-05-8-1, the dev cluster's 22.05.8):

- **Periodic main passes.** src/slurmctld/controller.c, ``_slurmctld_background``: the
  loop sleeps about a second (ten ``usleep(100000)``), and once ``sched_interval`` seconds
  (``SchedulerParameters``, default 60) have passed since its last full pass it calls
  ``schedule(true)``: the whole queue in priority order.
- **Event-triggered main passes.** src/slurmctld/proc_req.c,
  ``_slurm_rpc_epilog_complete``: when a job's epilog completes, ``schedule(false)``;
  src/slurmctld/job_scheduler.c, ``_sched_agent``: a request runs ``_schedule`` once
  ``sched_min_interval`` has passed since the last pass (in microseconds in 22.05, default
  2). On the dev cluster most starts fall on the periodic passes instead: of the passes
  in slurmctld.log that started jobs, 90 of 104 came at the 2 s rhythm (one fraction of
  a second, drifting by milliseconds a pass), not within 0.1 s of a ``_job_complete``
  line, and 70 of one run's 80 starts fall on the odd seconds of that rhythm
  (docs/validation.md, "Forecast against a real Slurm"). So all three are options:
  ``at_events`` (a pass at every job end and submission, at most once per
  ``min_interval_s``, the documented path), the same ``delay_s`` after each event (the
  mean wait for a periodic pass whose phase is not known is half ``sched_interval``),
  and the periodic passes alone.
- **Backfill passes.** src/plugins/sched/backfill/backfill.c, ``backfill_agent``: sleeps
  ``bf_interval``, and runs ``_attempt_backfill`` when ``bf_interval`` has passed since its
  last pass (else retries every second). The instant of its last pass is ``sdiag``'s "Last
  cycle when"; without it the first cycle of the run is taken as one.
- **Priority recalculation.** src/plugins/priority/multifactor/priority_multifactor.c,
  ``_decay_thread``: the thread starts with slurmctld, and sleeps until
  ``abs.tv_sec += PriorityCalcPeriod``, so its passes fall at slurmctld's start plus whole
  periods (``scontrol show config``'s ``BOOT_TIME``): the phase is the cluster's, not the
  forecast's.

Each rhythm is a :class:`Ticks`: a period and the instant of one tick (any tick; it may lie
before the run's start). Instants are compared with a tolerance of a microsecond, so ticks
computed as ``phase + k * period`` in floating point still match.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_EPS = 1e-6


@dataclass(frozen=True)
class Ticks:
    """Instants ``phase_s + k * period_s`` for every whole k (``period_s`` > 0)."""

    period_s: float
    phase_s: float = 0.0

    def _k(self, t: float) -> float:
        return (t - self.phase_s) / self.period_s

    def at_or_before(self, t: float) -> float:
        """The last tick at or before ``t``."""
        k = math.floor(self._k(t) + _EPS / self.period_s)
        return self.phase_s + k * self.period_s

    def at_or_after(self, t: float) -> float:
        """The first tick at or after ``t``."""
        k = math.ceil(self._k(t) - _EPS / self.period_s)
        return self.phase_s + k * self.period_s

    def is_tick(self, t: float) -> bool:
        return abs(self.at_or_before(t) - t) <= _EPS


def wake_for(
    passes: MainPasses, main_ran: bool, now_s: float, recalc_next_s: float | None
) -> float | None:
    """When a policy with jobs still waiting after a cycle at ``now_s`` asks to be woken:
    at the next pass if the main scheduler did not run now, and, when it runs at its
    periodic passes only, at the first one at or after the next recalculation
    (``recalc_next_s``), whose new order Slurm acts on even when no job ends. (With passes
    at events, a recalculation's order is acted on at the next event, as before the timing
    was modelled.) None: nothing to wake for."""
    due: list[float] = []
    if not main_ran:
        due.append(passes.next_s(now_s))
    if recalc_next_s is not None and not passes.at_events:
        due.append(passes.interval.at_or_after(recalc_next_s))
    return min(due, default=None)


def main_passes(
    interval_s: float | None,
    at_events: bool | None,
    min_interval_s: float | None,
    phase_s: float = 0.0,
    delay_s: float = 0.0,
) -> MainPasses:
    """The main scheduler's passes, each value given or Slurm's default (60 s, at events,
    2 microseconds, no delay); the periodic passes fall at ``phase_s`` plus whole
    intervals."""
    period = 60.0 if interval_s is None else interval_s
    return MainPasses(
        Ticks(period if period > 0 else 60.0, phase_s),
        True if at_events is None else at_events,
        2e-6 if min_interval_s is None else min_interval_s,
        delay_s,
    )


@dataclass
class MainPasses:
    """When the main scheduler runs (module docstring): at the periodic passes
    (``interval``), and with ``at_events`` also at every cycle the run has for an event
    (a job's end, a submission), at most once per ``min_interval_s``, or with ``delay_s``
    that long after the event (one pending pass at a time: events meanwhile share it).

    :meth:`due` says whether a pass runs at a cycle; :meth:`next_s` is when the next
    periodic one falls, for a policy that has jobs waiting to ask to be woken."""

    interval: Ticks
    at_events: bool = True
    min_interval_s: float = 0.0
    delay_s: float = 0.0
    last_s: float | None = None
    first_s: float | None = None
    pending_s: float | None = None  # the delayed pass an event asked for

    def due(self, now_s: float) -> bool:
        """Whether a main pass runs at ``now_s`` (noted as the last pass if so): the run's
        first instant (every cycle at it: the state a run starts from is what that pass
        sees, a job ending at that instant included), a periodic pass, or with
        ``at_events`` any cycle at least ``min_interval_s`` after the last pass."""
        last = self.last_s
        if self.first_s is None:
            self.first_s = now_s
        first = abs(now_s - self.first_s) <= _EPS
        periodic = self.interval.is_tick(now_s)
        spaced = last is None or now_s - last >= self.min_interval_s - _EPS
        if self.at_events and self.delay_s > 0 and not first:
            spaced = self._delayed(now_s)
        if first or periodic or (self.at_events and spaced):
            self.last_s = now_s
            self.pending_s = None
            return True
        return False

    def _delayed(self, now_s: float) -> bool:
        """With ``delay_s``: an event asks for a pass ``delay_s`` later (one pending at a
        time); True once that instant has come."""
        if self.pending_s is None:
            self.pending_s = now_s + self.delay_s
        return now_s >= self.pending_s - _EPS

    def next_s(self, now_s: float) -> float:
        """When the next pass falls after a cycle at ``now_s`` that ran none: the next
        periodic one, or with ``at_events`` the end of ``min_interval_s``."""
        periodic = self.interval.at_or_after(now_s + 2 * _EPS)
        if self.at_events and self.pending_s is not None:
            return min(periodic, self.pending_s)
        if self.at_events and self.last_s is not None:
            return min(periodic, self.last_s + self.min_interval_s)
        return periodic
