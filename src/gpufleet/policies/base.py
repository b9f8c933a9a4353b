"""The seams of a scheduling cycle and the shared admission step.

A cycle is four seams, each a small protocol:

1. **ordering**   which pending jobs to try, in which order (each policy's own loop);
2. **admission**  may this job start now under its quotas? (:class:`Admission`);
3. **placement**  on which GPUs? (:class:`PlacementStrategy`);
4. **preemption** if not, which running jobs could make room? (:class:`Preemption`).

A policy decides on a :class:`~gpufleet.state.snapshot.Snapshot` and returns a
:class:`Decision`; the engine applies it. Every blocked job gets a
:class:`~gpufleet.domain.reasons.Reason` (a domain word: the live layer maps the real
schedulers' reasons onto the same words).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple, Protocol

from gpufleet.domain.reasons import Reason
from gpufleet.policies.options import Options
from gpufleet.state.capacity import Placement
from gpufleet.state.jobs import Job
from gpufleet.state.snapshot import Snapshot


@dataclass
class Decision:
    """What one cycle decided. ``wake_at``: the policy asks to be run again for the
    cohorts of this cycle at that instant even if no event happens (a running job's
    attained service crosses a threshold, a waiting job's starvation limit expires);
    the host marks those cohorts dirty then and runs a cycle. None (the default) asks
    nothing; a later cycle of the same cohorts replaces the request."""

    admit: list[tuple[Job, Placement]] = field(default_factory=list)
    preempt: list[Job] = field(default_factory=list)
    blocked: list[tuple[Job, Reason]] = field(default_factory=list)
    wake_at: float | None = None

    def __bool__(self) -> bool:
        return bool(self.admit or self.preempt)


class Admission(Protocol):
    def check(self, snap: Snapshot, job: Job, gpu_type: str) -> Reason | None:
        """None if ``job`` may use ``gpu_type`` GPUs now, else the reason it may not."""
        ...


class PlacementStrategy(Protocol):
    def place(self, snap: Snapshot, job: Job, admission: Admission) -> Placement | Reason:
        """GPUs for ``job`` on a type that admission allows, or why there are none."""
        ...


class Preemption(Protocol):
    def make_room(self, snap: Snapshot, job: Job, decision: Decision) -> Placement | None:
        """Tentatively stop victims so ``job`` fits; record them in ``decision``."""
        ...


class ReservedStart(NamedTuple):
    """A cohort's reservation: the job holding it and the instant it is reserved to start."""

    job_id: int
    start_s: float


class Policy(Protocol):
    name: ClassVar[str]
    summary: ClassVar[str]
    options: ClassVar[Options]  # its constructor's keywords a scenario may set, and their types
    shares_between_programs: bool  # fair between programs (tenants): see BasePolicy

    def decide(self, snap: Snapshot) -> Decision: ...

    def reservation(self, cohort: str) -> ReservedStart | None:
        """The reservation ``cohort``'s last cycle made, for a policy that reserves (Slurm's
        EASY backfill); None for every other policy (:class:`BasePolicy`'s answer)."""
        ...


class NoQuota:
    """Admission that ignores quotas: only physical capacity limits a job."""

    def check(self, snap: Snapshot, job: Job, gpu_type: str) -> Reason | None:
        return None


class BasePolicy:
    """Shared wiring: decide() schedules every changed cohort with the policy's own loop."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    options: ClassVar[Options] = {}
    # whether it shares the fleet between programs (tenants): with one program it has no
    # one to be fair to, which a replay of a one-queue trace says
    shares_between_programs: bool = False

    def __init__(
        self,
        admission: Admission,
        placement: PlacementStrategy,
        preemption: Preemption | None = None,
    ) -> None:
        self.admission = admission
        self.placement = placement
        self.preemption = preemption

    def decide(self, snap: Snapshot) -> Decision:
        d = Decision()
        for cohort in snap.dirty_cohorts():
            self.schedule_cohort(snap, cohort.name, d)
        return d

    def schedule_cohort(self, snap: Snapshot, cohort: str, d: Decision) -> None:
        raise NotImplementedError

    def reservation(self, cohort: str) -> ReservedStart | None:
        return None  # no reservations: a policy that makes them overrides this

    def try_start(self, snap: Snapshot, job: Job, d: Decision) -> bool:
        """Admission, placement, then preemption if the policy has it."""
        got = self.placement.place(snap, job, self.admission)
        if isinstance(got, Placement):
            snap.assume_start(job, got)
            d.admit.append((job, got))
            return True
        if self.preemption is not None:
            pl = self.preemption.make_room(snap, job, d)
            if pl is not None:
                snap.assume_start(job, pl)
                d.admit.append((job, pl))
                return True
        d.blocked.append((job, got))
        return False


class Refusals:
    """Within one cycle, the jobs refused since the last start, by what decided the refusal.

    A policy that tries many jobs per cycle (SRTF's and Tiresias's ``depth``) pays for a
    placement and a victim search at each. A refusal leaves the snapshot as it was, so
    until something starts the next job that asks for the same (``key``) on the same
    state is refused for the same reason: it is recorded as blocked without the search.
    What makes two jobs ask for the same is the policy's to say (its docstring says why
    its key is enough); any start forgets every refusal."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[Hashable, Reason] = {}

    def try_start(
        self, policy: BasePolicy, snap: Snapshot, job: Job, d: Decision, key: Hashable
    ) -> bool:
        """:meth:`BasePolicy.try_start`, or its known answer for ``key`` (:meth:`attempt`
        written out: most jobs of a deep cycle take the first branch, so no closure)."""
        why = self._seen.get(key)
        if why is not None:
            d.blocked.append((job, why))
            return False
        if policy.try_start(snap, job, d):
            self._seen.clear()
            return True
        self._seen[key] = d.blocked[-1][1]
        return False

    def known(self, key: Hashable) -> Reason | None:
        """The reason a job of ``key`` was refused since the last start, if one was: a
        caller that records it in ``d.blocked`` itself skips building ``start``."""
        return self._seen.get(key)

    def attempt(self, job: Job, d: Decision, key: Hashable, start: Callable[[], bool]) -> bool:
        """``start()`` (which appends the job's reason to ``d.blocked`` when it refuses),
        or the answer known for ``key``."""
        why = self._seen.get(key)
        if why is not None:
            d.blocked.append((job, why))
            return False
        if start():
            self._seen.clear()
            return True
        self._seen[key] = d.blocked[-1][1]
        return False
