"""Stand-ins for the engine's two seams, shipped beside them (as httpx ships MockTransport).

- :class:`NullObserver` hears everything and keeps nothing: a host that runs the engine for
  its state alone (the allocation in force at a date replays the timeline with no jobs and
  nobody listening).
- :class:`RecordingExecutor` starts nothing and remembers every launch and halt, in order.
- :class:`Recording` is both seams at once and also remembers stops and reason changes: the
  fake a test passes as the engine's executor and observer to check what the engine did.

They are real implementations of :class:`~gpufleet.engine.engine.Executor` and
:class:`~gpufleet.engine.engine.Observer`, not mocks: nothing here asserts or scripts calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gpufleet.domain.reasons import Reason
from gpufleet.state.cluster import ClusterState
from gpufleet.state.jobs import Job


class NullObserver:
    """An observer that ignores every event."""

    def on_start(self, job: Job, now_s: float) -> None:
        pass

    def on_stop(
        self, job: Job, now_s: float, progress_s: float, lost_s: float, finished: bool
    ) -> None:
        pass

    def on_capacity(self, state: ClusterState, now_s: float) -> None:
        pass

    def on_quota(self, program: str, gpu_type: str, nominal: int, now_s: float) -> None:
        pass

    def on_reasons(self, jobs_and_reasons: Sequence[tuple[Job, Reason]], now_s: float) -> None:
        pass


@dataclass
class RecordingExecutor:
    """An executor that runs nothing: ``launched`` holds (job id, now, run seconds) and
    ``halted`` (job id, now) for every call, in call order."""

    launched: list[tuple[int, float, float]] = field(default_factory=list)
    halted: list[tuple[int, float]] = field(default_factory=list)

    def launch(self, job: Job, now_s: float, run_s: float) -> None:
        self.launched.append((job.spec.id, now_s, run_s))

    def halt(self, job: Job, now_s: float) -> None:
        self.halted.append((job.spec.id, now_s))


@dataclass
class Recording(RecordingExecutor, NullObserver):
    """Executor and observer in one: launches and halts as :class:`RecordingExecutor`, plus
    ``stops`` (job id, progress seconds, lost seconds, finished) and ``reasons`` (job id, old
    reason, new reason, now) for every change the engine reports."""

    stops: list[tuple[int, float, float, bool]] = field(default_factory=list)
    reasons: list[tuple[int, str, str, float]] = field(default_factory=list)

    def on_stop(
        self, job: Job, now_s: float, progress_s: float, lost_s: float, finished: bool
    ) -> None:
        self.stops.append((job.spec.id, progress_s, lost_s, finished))

    def on_reasons(self, jobs_and_reasons: Sequence[tuple[Job, Reason]], now_s: float) -> None:
        self.reasons.extend((j.spec.id, j.reason, r, now_s) for j, r in jobs_and_reasons)
