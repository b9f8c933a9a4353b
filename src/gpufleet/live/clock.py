"""The live host's clock: the one place a live run reads the wall clock.

A forecast reads ``now`` once, when it starts, and then runs the engine forward in
simulated time from it (time 0 of the run is ``now``); no policy, engine or simulator code
ever reads the wall clock (STYLE.md, habit 1: one engine, two hosts, differing in their
clock). Tests and replays of recorded outputs pass a :class:`FixedClock`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


class WallClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class FixedClock:
    """Always the same instant (recorded outputs are read at the instant they were
    recorded, so elapsed times come out as they were)."""

    at: datetime

    def now(self) -> datetime:
        return self.at
