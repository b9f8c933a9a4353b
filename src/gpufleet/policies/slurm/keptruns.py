"""A cohort's running jobs, kept from one backfill pass to the next by their changes.

Both Slurm backfills read every running job's expected end (``start + limit``) at each
pass: EASY its ends in time order (:class:`gpufleet.policies.slurm.backfill._KeptEnds`),
the planning pass its free GPUs per node over time
(:class:`gpufleet.policies.slurm.keptgrid.KeptGrid`). Taking them anew costs O(R) Python
steps per pass for R running jobs; :class:`KeptRuns` instead finds the jobs started and
stopped since the last pass by comparing the running jobs' ids (sets, in C) and hands
each to its subclass.

Exact because a job's end is fixed for its run, and a run is told apart by each program's
``running_changes``: each start and stop counts one, so a program's ids' difference
accounts for every change only when no job stopped and started again (or started and
stopped) in between; any other count, or other programs, makes :meth:`KeptRuns.update`
answer False and the caller builds the whole anew. Only the programs whose count moved
are compared, one set difference each.
"""

from __future__ import annotations

from collections.abc import Callable

from gpufleet.state.capacity import Slots
from gpufleet.state.jobs import Job, ProgramState

Run = tuple[float, Slots, int]  # (expected end, slots, group)
LimitOf = Callable[[Job], float]


class KeptRuns:
    """The runs of a cohort's programs' running jobs, by job id; subclasses keep what they
    derive from them through :meth:`_taken` and :meth:`_dropped`."""

    def __init__(self) -> None:
        self.members: tuple[str, ...] = ()  # the cohort's programs they were taken from
        self.changes: list[int] = []  # each program's running_changes when last read
        self.ids: list[set[int]] = []  # each program's running jobs when last read
        self.runs: dict[int, Run] = {}

    def fill(self, programs: list[ProgramState], limit_s: LimitOf) -> None:
        """Every running job's run, at once (subclasses derive theirs in one step after)."""
        for p in programs:
            for j in p.running.values():
                self._record(j, limit_s)
        self.members = tuple(p.name for p in programs)
        self.changes = [p.running_changes for p in programs]
        self.ids = [set(p.running) for p in programs]

    def update(self, programs: list[ProgramState], limit_s: LimitOf) -> bool:
        """Brought up to date; False where the changes cannot be told apart (rebuild).
        Only the programs whose count of changes moved are compared."""
        if tuple(p.name for p in programs) != self.members:
            return False
        moved = [i for i, p in enumerate(programs) if p.running_changes != self.changes[i]]
        diffs = []
        for i in moved:
            p, had = programs[i], self.ids[i]
            now = p.running.keys()
            started, stopped = now - had, had - now
            if p.running_changes - self.changes[i] != len(started) + len(stopped):
                return False
            diffs.append((i, started, stopped))
        for i, started, stopped in diffs:
            p, had = programs[i], self.ids[i]
            for jid in stopped:
                had.discard(jid)
                self._dropped(jid, self.runs.pop(jid))
            for jid in started:
                had.add(jid)
                self._taken(jid, self._record(p.running[jid], limit_s))
            self.changes[i] = p.running_changes
        return True

    def _record(self, job: Job, limit_s: LimitOf) -> Run:
        pl = job.placement
        assert pl is not None  # running
        run = self.runs[job.spec.id] = (job.start_s + limit_s(job), pl.slots, pl.group)
        return run

    def _taken(self, jid: int, run: Run) -> None:
        """A job started since the last update."""

    def _dropped(self, jid: int, run: Run) -> None:
        """A job stopped since the last update."""
