"""A metering period: ``[start, end)`` in UTC, a calendar month by default."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from gpufleet.errors import InputError


@dataclass(frozen=True)
class Period:
    start: datetime  # aware UTC
    end: datetime

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    @property
    def start_epoch(self) -> int:
        return int(self.start.timestamp())

    @property
    def end_epoch(self) -> int:
        return int(self.end.timestamp())

    def key(self) -> tuple[str, str]:
        """The period as the register stores it: ISO UTC instants with a ``Z``."""
        return (_iso(self.start), _iso(self.end))

    def label(self) -> str:
        start, end = self.key()
        return f"{start} -> {end}"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def month(text: str, flag: str = "--period") -> Period:
    """``2026-12`` -> [2026-12-01, 2027-01-01) UTC."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
    if m is None or not 1 <= int(m.group(2)) <= 12:
        raise InputError(f"{flag} {text!r}: not a month (expected YYYY-MM, e.g. 2026-12)")
    year, mon = int(m.group(1)), int(m.group(2))
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=UTC)
    return Period(start, end)


def instant(text: str, flag: str) -> datetime:
    """An ISO date or instant; without a zone it is UTC."""
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{flag} {text!r}: not a date or instant (expected ISO 8601, e.g. 2026-12-01 "
            "or 2026-12-01T00:00:00Z)"
        ) from None
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


def period_of(period: str | None, start: str | None, end: str | None) -> Period:
    """``--period YYYY-MM``, or ``--from``/``--to`` (both), never both kinds."""
    if period is not None and (start or end):
        raise InputError("--period and --since/--until: give one or the other")
    if period is not None:
        return month(period)
    if not (start and end):
        raise InputError("a period is needed: --period YYYY-MM, or --since and --until")
    p = Period(instant(start, "--since"), instant(end, "--until"))
    if p.end <= p.start:
        raise InputError(f"--until {end!r}: must be after --since {start!r}")
    return p
