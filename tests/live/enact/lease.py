"""The enact story's lease, through the register's own governance: tesla's CFO requests 8
H100 of memphis for xai's grok from yesterday for 30 days, the assessment runs (the real
what-if run, as the service's worker runs it), Tesla's two independent directors approve,
and it is activated: the same steps as the API's ``POST /transfers``, ``assess``,
``approve`` x2 and ``activate`` (docs/service.md).

    PYTHONPATH=src:. .venv/bin/python -m tests.live.enact.lease sqlite:///enact.db
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from gpufleet.governance.runs import queue
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import PersonRow
from gpufleet.governance.transfers import lifecycle


def lend(store: Store, name: str = "enact-lease", today: date | None = None) -> int:
    """The lease from the day before ``today`` (the UTC date now unless given: a caller
    that derives its own dates from one reading of the clock passes its day, so that a run
    across midnight does not see two)."""
    with store.read() as s:
        people = {p.name: p.id for p in s.scalars(select(PersonRow))}
    today = today or datetime.now(UTC).date()
    body = {
        "name": name, "pool": "memphis-h100", "gpus": 8, "to": "xai",
        "from_program": "fsd-training", "to_program": "grok",
        "start": str(today - timedelta(days=1)), "end": str(today + timedelta(days=30)),
        "price_usd": 1_500_000.0,
    }  # fmt: skip
    with store.write("cli:tesla-cfo") as tx:
        tid = lifecycle.request(tx, people["tesla-cfo"], body).id
    with store.write("cli:tesla-cfo") as tx:
        run_id = lifecycle.queue_assessment(tx, tid).id
    queue.execute(store, run_id)
    for who in ("tesla-independent-1", "tesla-independent-2"):
        with store.write(f"cli:{who}") as tx:
            lifecycle.approve(tx, tid, people[who])
    with store.write("cli:tesla-cfo") as tx:
        lifecycle.activate(tx, tid)
    return tid


if __name__ == "__main__":
    store = Store(sys.argv[1])
    sys.stdout.write(f"transfer #{lend(store)} active\n")
