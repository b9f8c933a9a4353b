"""Values read from the store, written the same way everywhere (the API, the CLI)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(t: datetime | None) -> str | None:
    """An instant as ISO 8601 in UTC. SQLite hands back naive times for timezone-aware
    columns; the store writes UTC only, so a naive time is UTC."""
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).isoformat()
