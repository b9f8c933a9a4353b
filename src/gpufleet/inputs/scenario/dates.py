"""Instants in scenario files: dates are midnight UTC; times are naive UTC inside."""

from __future__ import annotations

from datetime import UTC, date, datetime, time


def as_datetime(d: date | datetime) -> datetime:
    if isinstance(d, datetime):
        if d.tzinfo is not None:
            return d.astimezone(UTC).replace(tzinfo=None)
        return d
    return datetime.combine(d, time())
