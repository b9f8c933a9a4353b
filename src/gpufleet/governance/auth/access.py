"""What each role may do. Roles are scoped to one entity, except fleet-admin:

================  =====================================  ===================================
role              reads                                  changes
================  =====================================  ===================================
viewer            its entity's register, transfers and   nothing
                  runs; the shared sites and fleet view
entity-admin      as viewer                              its entity's programs, quotas,
                                                         pools, people's roles; requests
                                                         transfers from its entity; runs
approver          as viewer                              approves or rejects transfers that
                                                         involve its entity (if the person
                                                         behind it is eligible: governance)
fleet-admin       everything                             everything, tokens included
================  =====================================  ===================================

Every check raises :class:`ForbiddenError` with a code and a sentence saying what was
missing; reads of another entity's objects are refused, not silently filtered, when asked
for by id; lists are filtered to what the caller may read.

**What a scoped token may read of other entities** (docs/security.md, "What a token may
read"): the shared objects (sites, groups, entity names, people, the plan's header) and
per-entity aggregates, never another entity's programs, quotas, pools, milestones or
per-program results. A transfer's two parties read it and its assessment, each with its
own programs in full. Run results are redacted to the caller's programs before they are
sent (:mod:`gpufleet.service.visibility`); exports, the whole fleet's configuration, are
the fleet-admin's only.
"""

from __future__ import annotations

from collections.abc import Iterable

from gpufleet.errors import ForbiddenError
from gpufleet.governance.auth.tokens import Principal
from gpufleet.governance.store.models import AccessRole

FLEET = AccessRole.FLEET_ADMIN


def is_fleet_admin(p: Principal) -> bool:
    return p.role is FLEET


def may_read(p: Principal, entity_ids: Iterable[int | None]) -> bool:
    """A caller may read an object if it is fleet admin or the object involves its entity."""
    return p.role is FLEET or p.entity_id in set(entity_ids)


def require_read(p: Principal, entity_ids: Iterable[int | None], what: str) -> None:
    if not may_read(p, entity_ids):
        raise ForbiddenError(
            f"{p.role.value} of {p.scope} may not read {what} (it belongs to another entity)",
            "other-entity",
        )


def require_fleet_admin(p: Principal, what: str) -> None:
    if p.role is not FLEET:
        raise ForbiddenError(f"{what} needs a fleet-admin token (this one is {p.role.value})")


def require_admin(p: Principal, entity_id: int | None, what: str) -> None:
    """Entity admins change their own entity's objects; fleet admins change any."""
    if p.role is FLEET:
        return
    if p.role is not AccessRole.ENTITY_ADMIN:
        raise ForbiddenError(
            f"{what} needs an entity-admin or fleet-admin token (this one is {p.role.value})"
        )
    if entity_id is None or p.entity_id != entity_id:
        raise ForbiddenError(
            f"entity-admin of {p.scope} may not change {what} (it belongs to another entity)",
            "other-entity",
        )


def require_approver(p: Principal, entity_ids: Iterable[int], what: str) -> None:
    """Approvers act on transfers that involve their entity; fleet admins on any. Whether
    the person may approve (conflicts, own request) is governance's question, not this."""
    if p.role is FLEET:
        return
    if p.role is not AccessRole.APPROVER:
        raise ForbiddenError(f"{what} needs an approver token (this one is {p.role.value})")
    if p.entity_id not in set(entity_ids):
        raise ForbiddenError(
            f"approver of {p.scope} may not decide {what} (it does not involve {p.scope})",
            "other-entity",
        )
