"""The read-only view a policy decides on, with tentative edits that always roll back.

Kueue's scheduler decides on a Snapshot and probes "what if this workload left?" with an
undo closure instead of deep copies. Here the snapshot overlays the live capacity index
with a journal: ``assume_start``/``assume_stop`` change free GPUs and quota usage so that
later choices in the same cycle see earlier ones; ``undo_to`` and ``rollback`` restore them.
The engine always rolls the whole journal back and then applies the returned decision
itself, so a policy can never leave the state changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from gpufleet.state.capacity import CapacityIndex, Placement
from gpufleet.state.cluster import ClusterState, CohortState
from gpufleet.state.jobs import Job, ProgramState

_START, _STOP = 0, 1


class Snapshot:
    __slots__ = ("_journal", "_state", "_stopped", "capacity", "now_s")

    def __init__(self, state: ClusterState, now_s: float = 0.0) -> None:
        self._state = state
        self.capacity: CapacityIndex = state.capacity
        self.now_s = now_s
        self._journal: list[tuple[int, Job, Placement]] = []
        self._stopped: set[int] = set()

    def reset(self, now_s: float) -> None:
        """Reuse for the next cycle (the engine keeps one): an empty journal at ``now_s``."""
        if self._journal:
            self.rollback()
        self.now_s = now_s
        self._stopped.clear()

    # --- what a policy may read --------------------------------------------------------
    def dirty_cohorts(self) -> list[CohortState]:
        """Cohorts whose jobs, capacity or quotas changed since the last cycle, and which
        have something pending; other cohorts would decide the same as last time."""
        st = self._state
        dirty = st.dirty
        names = sorted(dirty) if len(dirty) > 1 else dirty
        return [st.cohorts[c] for c in names if c in st.cohorts and st.cohorts[c].queue]

    def cohort(self, name: str) -> CohortState:
        return self._state.cohorts[name]

    def programs(self, cohort: CohortState) -> list[ProgramState]:
        return cohort.programs

    def running(self, cohort: CohortState) -> Iterator[Job]:
        """Running jobs, less those this cycle already (tentatively) stopped."""
        return self.running_in(cohort.programs)

    @property
    def stopped(self) -> set[int]:
        """Ids of running jobs this cycle has tentatively stopped."""
        return self._stopped

    def running_in(self, programs: list[ProgramState]) -> Iterator[Job]:
        stopped = self._stopped
        for p in programs:
            for j in p.running.values():
                if j.spec.id not in stopped:
                    yield j

    def gpu_type_of(self, placement: Placement) -> str:
        return self.capacity.groups[placement.group].gpu_type

    # --- tentative edits -------------------------------------------------------------
    def assume_start(self, job: Job, placement: Placement) -> None:
        self.capacity.reserve(placement.slots)
        self._account(job, placement, +1)
        self._journal.append((_START, job, placement))

    def assume_stop(self, job: Job) -> None:
        pl = job.placement
        assert pl is not None
        self.capacity.release(pl.slots)
        self._account(job, pl, -1)
        self._stopped.add(job.spec.id)
        self._journal.append((_STOP, job, pl))

    def mark(self) -> int:
        return len(self._journal)

    def undo_to(self, mark: int) -> None:
        j = self._journal
        while len(j) > mark:
            kind, job, pl = j.pop()
            if kind == _START:
                self.capacity.release(pl.slots)
                self._account(job, pl, -1)
            else:
                self.capacity.reserve(pl.slots)
                self._account(job, pl, +1)
                self._stopped.discard(job.spec.id)

    def rollback(self) -> None:
        self.undo_to(0)

    def commit_if_matches(
        self, admit: Sequence[tuple[Job, Placement]], preempt: Sequence[Job]
    ) -> bool:
        """Keep the journal's edits, instead of undoing and redoing them, when they are
        exactly the decision: its admissions with the same placements and its preemptions,
        each once. Anything else (a policy that probed and forgot to undo) is rolled back
        by the caller and the decision applied from scratch."""
        j = self._journal
        if not j:
            return not admit and not preempt
        if len(j) == 1 and len(admit) == 1 and not preempt:  # the common case
            kind, job, pl = j[0]
            if kind == _START and admit[0][0] is job and admit[0][1] is pl:
                j.clear()
                return True
            return False
        starts = {job.spec.id: pl for kind, job, pl in self._journal if kind == _START}
        stops = [job.spec.id for kind, job, _ in self._journal if kind == _STOP]
        if len(starts) + len(stops) != len(self._journal):
            return False
        if len(starts) != len(admit) or sorted(stops) != sorted(j.spec.id for j in preempt):
            return False
        for job, pl in admit:
            if starts.get(job.spec.id) is not pl:
                return False
        self._journal.clear()
        self._stopped.clear()
        return True

    def _account(self, job: Job, pl: Placement, sign: int) -> None:
        p = job.program
        p.add_usage(self.capacity.groups[pl.group].gpu_type, sign * job.spec.gpus)
