"""Who may change the roles that decide transfers.

People's roles (officer, director, independent director, employee of an entity) decide who
may approve a transfer. A transfer's decision uses its frozen terms and the roles now,
whichever is stricter (:mod:`.terms`), so no role change can make an open request easier
to approve. Two more rules close what is left:

- **nobody changes their own roles** (``own-roles``): a person cannot name themselves
  independent director, nor drop the seat that conflicts them;
- **nobody changes the roles that decide their own request** (``own-request-roles``): while
  a transfer a person requested is open (requested or assessed), that person may not
  create, change or delete roles in either party or in any entity of their groups.

Both apply to every token, fleet-admin included: a fleet-admin token that belongs to a
person acts as that person.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from gpufleet.errors import ForbiddenError
from gpufleet.governance.store.models import EntityRow, PersonRow, TransferRow
from gpufleet.governance.transfers.case import entity_scope
from gpufleet.governance.transfers.lifecycle import OPEN


def check_role_change(
    s: Session,
    actor_person_id: int | None,
    role_person_ids: Iterable[int],
    entity_ids: Iterable[int],
) -> None:
    """Refuse (ForbiddenError) a change of the roles of ``role_person_ids`` in
    ``entity_ids`` by the person behind the caller's token, per the module's two rules."""
    if actor_person_id is None:
        return
    me = s.get(PersonRow, actor_person_id)
    name = me.name if me is not None else f"person {actor_person_id}"
    if actor_person_id in set(role_person_ids):
        raise ForbiddenError(
            f"{name} may not change their own roles (another admin must, on the record)",
            "own-roles",
        )
    targets = set(entity_ids)
    mine = s.scalars(
        select(TransferRow).where(
            TransferRow.requested_by == actor_person_id,
            TransferRow.state.in_([state.value for state in OPEN]),
        )
    )
    ents = {e.id: e for e in s.scalars(select(EntityRow))}
    for t in mine:
        if targets & entity_scope(ents, t):
            raise ForbiddenError(
                f"{name} requested transfer {t.id} ({t.state}), which these roles decide: "
                "while it is open they may not change roles in its parties or their group",
                "own-request-roles",
            )
