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
from gpufleet.store.models import Entity, Person, Transfer, TransferState

OPEN = (TransferState.REQUESTED.value, TransferState.ASSESSED.value)


def _scope(s: Session, t: Transfer) -> set[int]:
    """The parties of ``t`` and every entity of their groups."""
    parties = [s.get(Entity, t.from_entity_id), s.get(Entity, t.to_entity_id)]
    groups = {e.group_id for e in parties if e is not None and e.group_id is not None}
    out = {t.from_entity_id, t.to_entity_id}
    if groups:
        out |= set(s.scalars(select(Entity.id).where(Entity.group_id.in_(groups))))
    return out


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
    me = s.get(Person, actor_person_id)
    name = me.name if me is not None else f"person {actor_person_id}"
    if actor_person_id in set(role_person_ids):
        raise ForbiddenError(
            f"{name} may not change their own roles (another admin must, on the record)",
            "own-roles",
        )
    targets = set(entity_ids)
    mine = s.scalars(
        select(Transfer).where(
            Transfer.requested_by == actor_person_id,
            Transfer.state.in_(OPEN),
        )
    )
    for t in mine:
        if targets & _scope(s, t):
            raise ForbiddenError(
                f"{name} requested transfer {t.id} ({t.state}), which these roles decide: "
                "while it is open they may not change roles in its parties or their group",
                "own-request-roles",
            )
