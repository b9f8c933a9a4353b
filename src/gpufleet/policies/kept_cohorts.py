"""The shell that SRTF's and Tiresias's kept victim indexes share: one index per cohort,
brought up to the cohort's running jobs at most once per cycle, told which jobs the policy
admitted since (a job stopped and restarted between two looks keeps its id, so its held
entry is stale), and started afresh for another simulation's cohort of the same name.
What an index holds and how it follows the jobs is its own (:mod:`.kept_victims`,
:mod:`.kept_levels`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from gpufleet.state.cluster import CohortState
from gpufleet.state.jobs import Job
from gpufleet.state.snapshot import Snapshot


class CohortIndex(Protocol):
    cohort: CohortState

    def sync(self, snap: Snapshot, stale: set[int]) -> None:
        """Follow the cohort's running jobs; ``stale``: ids admitted since the last look."""


IndexT = TypeVar("IndexT", bound=CohortIndex)


class KeptPerCohort(Generic[IndexT]):
    """Per cohort, an index kept between cycles and synced once per cycle."""

    __slots__ = ("_by_cohort", "_looked", "_make", "_stale")

    def __init__(self, make: Callable[[CohortState], IndexT]) -> None:
        self._make = make
        self._by_cohort: dict[str, IndexT] = {}
        self._looked: set[str] = set()  # cohorts synced this cycle (the state is the same)
        # cohort -> its jobs admitted since its last look: each starts a new run
        self._stale: dict[str, set[int]] = {}

    def started(self, job: Job) -> None:
        """``job`` was admitted: if it is held from an earlier run, that entry is stale."""
        if job.cohort in self._by_cohort:  # (nothing held yet: nothing can be stale)
            self._stale.setdefault(job.cohort, set()).add(job.spec.id)

    def new_cycle(self) -> None:
        """A cycle begins: running jobs may have changed since the last look."""
        self._looked.clear()

    def of(self, snap: Snapshot, cohort: CohortState) -> IndexT:
        """``cohort``'s index, brought up to its running jobs once per cycle."""
        c = self._by_cohort.get(cohort.name)
        if c is None or c.cohort is not cohort:  # (one policy object, several simulations)
            c = self._by_cohort[cohort.name] = self._make(cohort)
        elif cohort.name in self._looked:
            return c
        self._looked.add(cohort.name)
        c.sync(snap, self._stale.pop(cohort.name, set()))
        return c
