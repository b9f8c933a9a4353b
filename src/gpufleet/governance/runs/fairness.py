"""Fair queueing of runs: a cap per entity on runs queued or running, and the order in
which the one worker takes them, so that one entity's many runs cannot delay another's
assessment.

A run's **entity** is the entity on whose behalf it runs: ``runs.entity_id`` (the
entity of the token that queued a what-if), else, for an assessment, its transfer's
giver. Runs of neither (a fleet-admin's what-if) are the fleet's, one more entity here.

- **cap**: an entity has at most ``cap`` runs queued or running (default
  :data:`MAX_ACTIVE_RUNS`); one more is refused with 429 ``too-many-runs`` and a
  ``Retry-After``. Fleet-admins are not capped (they run the fleet);
- **order** (round robin by entity): the next run is the oldest queued run of the entity
  served least recently, served meaning a run of it started (the latest ``started_at``
  of its runs; never served comes first; ties go to the oldest queued run). With A's
  runs 1, 2, 3 and B's assessment 4 queued, the worker runs 1, 4, 2, 3.

Both read the ``runs`` rows only, so they hold across restarts and servers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from gpufleet.errors import TooManyRequestsError
from gpufleet.governance.store.models import EntityRow, Run, RunStatus, TransferRow

MAX_ACTIVE_RUNS = 3
"""Runs an entity may have queued or running at once."""
RETRY_AFTER_S = 60
"""What a refused caller is told to wait: about one short run."""
ACTIVE = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)


def run_entity() -> ColumnElement[Any]:
    """The run's entity id (see the module docstring); needs :func:`_with_transfer`."""
    return func.coalesce(Run.entity_id, TransferRow.from_entity_id)


def _with_transfer(q: Select[Any]) -> Select[Any]:
    return q.outerjoin(TransferRow, TransferRow.id == Run.transfer_id)


def active_runs(s: Session, entity_id: int) -> int:
    q = _with_transfer(select(func.count(Run.id))).where(
        Run.status.in_(ACTIVE), run_entity() == entity_id
    )
    return int(s.scalar(q) or 0)


def require_room(s: Session, entity_id: int | None, cap: int = MAX_ACTIVE_RUNS) -> None:
    """Refuse one more run of ``entity_id`` when it has ``cap`` queued or running
    (:class:`TooManyRequestsError` ``too-many-runs``); None (the fleet's) is not capped."""
    if entity_id is None:
        return
    n = active_runs(s, entity_id)
    if n >= cap:
        name = s.scalar(select(EntityRow.name).where(EntityRow.id == entity_id)) or entity_id
        raise TooManyRequestsError(
            f"{name} has {n} runs queued or running, the most an entity may have at once "
            f"({cap}): try again when one has finished (GET /api/v1/runs)",
            RETRY_AFTER_S,
            code="too-many-runs",
        )


def _instant(d: datetime | None) -> float:
    if d is None:
        return float("-inf")
    return (d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp()


def next_run_id(s: Session) -> int | None:
    """The run the worker should take next (see the module docstring); None if none."""
    ent = run_entity()
    queued = s.execute(
        _with_transfer(select(Run.id, ent)).where(Run.status == RunStatus.QUEUED.value)
    ).all()
    if not queued:
        return None
    oldest: dict[int | None, int] = {}
    for run_id, entity_id in queued:
        oldest[entity_id] = min(run_id, oldest.get(entity_id, run_id))
    rows = s.execute(
        _with_transfer(select(ent, func.max(Run.started_at)))
        .where(Run.started_at.is_not(None))
        .group_by(ent)
    ).all()
    served: dict[int | None, datetime | None] = {e: last for e, last in rows}
    chosen = min(oldest, key=lambda e: (_instant(served.get(e)), oldest[e]))
    return oldest[chosen]
