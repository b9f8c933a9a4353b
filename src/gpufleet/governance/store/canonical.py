"""What the audit chain hashes: a record's fields and canonical JSON.

Shared by the log (:mod:`.audit`, which writes and verifies records) and the strict reader
of its exports (:mod:`.export_format`), which the log uses: kept apart so that neither
imports the other's importer.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from enum import Enum

GENESIS = "0" * 64
FIELDS = (
    "seq",
    "at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "prev_hash",
    "hash",
)


def plain(v: object) -> object:
    """A date, time or enum as JSON text; anything else as ``str``."""
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Enum):
        return v.value
    return str(v)


def canonical(obj: object) -> str:
    """Sorted keys, no spaces, non-ASCII kept as is."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=plain)
