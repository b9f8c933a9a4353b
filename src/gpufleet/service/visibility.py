"""What a token scoped to an entity may read of the other entities (docs/security.md,
"What a token may read"), applied to what runs return.

The rule: a scoped token (viewer, entity-admin, approver of entity E) sees E's own
programs, quotas, pools, roles and runs in full; of the other entities only the shared
objects (sites, groups, entity names, people) and per-entity aggregates, never another
entity's programs, quotas, pools, milestones or per-program results. One exception: the
assessment of a transfer shows its two parties each other's programs too (both decide on
the transfer from the same figures); a third entity's stay hidden. A fleet-admin sees
everything.

A run's stored result stays whole (the fleet-admin's, and the audit log commits to it);
:func:`visible_result` redacts the copy a scoped token is sent:

- each arm's ``programs`` and ``milestones`` and each variant's ``deltas.programs`` keep
  E's programs only; ``entities`` (per-entity figures) and ``fleet`` stay: those are the
  aggregates;
- each arm's ``charges`` keep the transfers E pays or is paid for;
- an assessment's ``programs`` summary keeps E's programs only;
- ``redacted`` says what was left out, so nobody mistakes it for the whole.

:func:`scrub` is the last line for text (error messages that list names): every other
entity's program and pool name in it becomes ``<another entity's>``.

The live fleet follows the same rule (:func:`live_sample`, :func:`live_status`): a scoped
token sees its own entity's GPUs, waste, programs, demand, caps, drift and down nodes; a
program of another entity running on its GPUs as ``<another entity's>``; no unmapped
names (a name the mapping cannot place belongs to no entity yet); the sources' failures
with the hidden names scrubbed; and the leases suggested between its entity and another,
with both parties' figures (as a transfer's assessment shows its parties both sides).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from copy import deepcopy
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gpufleet.governance.auth import access
from gpufleet.governance.auth.tokens import Principal
from gpufleet.governance.store.models import EntityRow, Pool, ProgramRow
from gpufleet.live.series import FailurePoint, Sample, UsagePoint
from gpufleet.live.status import LiveStatus

HIDDEN = "<another entity's>"


@dataclass(frozen=True)
class View:
    """What one caller may see by name: None for a fleet-admin (everything)."""

    entity: str | None
    own_programs: frozenset[str]
    hidden_names: frozenset[str]
    own_pools: frozenset[str] = frozenset()

    @property
    def whole(self) -> bool:
        return self.entity is None


WHOLE = View(None, frozenset(), frozenset())


def view_of(s: Session, p: Principal, parties: Iterable[int] = ()) -> View:
    """The caller's view: its entity's program names, and the names it may not see.
    ``parties``: the two entities of a transfer whose assessment is shown; when the caller
    is one of them, both parties' programs and pools count as its own (they decide on the
    transfer from the same assessment); a third entity's stay hidden."""
    if access.is_fleet_admin(p):
        return WHOLE
    mine = {p.entity_id}
    if p.entity_id in set(parties):
        mine |= set(parties)
    own: set[str] = set()
    pools: set[str] = set()
    hidden: set[str] = set()
    for name, entity_id in s.execute(select(ProgramRow.name, ProgramRow.entity_id)).all():
        (own if entity_id in mine else hidden).add(name)
    for name, owner_id in s.execute(select(Pool.name, Pool.owner_id)).all():
        (pools if owner_id in mine else hidden).add(name)
    entity = s.scalar(select(EntityRow.name).where(EntityRow.id == p.entity_id)) or ""
    return View(entity, frozenset(own), frozenset(hidden - own - pools), frozenset(pools))


def _keep(d: Any, own: frozenset[str]) -> tuple[dict[str, Any], int]:
    if not isinstance(d, dict):
        return {}, 0
    kept = {k: v for k, v in d.items() if k in own}
    return kept, len(d) - len(kept)


def _comparison(c: dict[str, Any], v: View) -> set[str]:
    """Redact a comparison in place; the program names left out."""
    gone: set[str] = set()
    for arm in (c.get("arms") or {}).values():
        for key in ("programs", "milestones"):
            gone |= set(arm.get(key) or {}) - v.own_programs
            arm[key], _ = _keep(arm.get(key), v.own_programs)
    for delta in (c.get("deltas") or {}).values():
        gone |= set(delta.get("programs") or {}) - v.own_programs
        delta["programs"], _ = _keep(delta.get("programs"), v.own_programs)
    charges = c.get("charges") or {}
    for arm, rows in charges.items():
        charges[arm] = [
            ch for ch in rows if v.entity in (ch.get("payer"), ch.get("payee"))
        ]  # fmt: skip
    return gone


def visible_result(result: Any, v: View) -> Any:
    """The run's result as the caller may see it (a redacted copy; see the module)."""
    if v.whole or not isinstance(result, dict):
        return result
    out = deepcopy(result)
    gone: set[str] = set()
    if isinstance(out.get("comparison"), dict):
        gone |= _comparison(out["comparison"], v)
    if isinstance(out.get("programs"), dict):
        gone |= set(out["programs"]) - v.own_programs
        out["programs"], _ = _keep(out["programs"], v.own_programs)
    out["redacted"] = {
        "programs_left_out": len(gone),
        "why": f"a token of {v.entity} sees its own programs in full and the other "
        "entities' as per-entity totals (arms.*.entities, deltas.*.entities)",
    }
    return out


def scrub(text: str, v: View) -> str:
    """``text`` with every name the caller may not see replaced by ``<another entity's>``."""
    if v.whole or not text or not v.hidden_names:
        return text
    names = sorted(v.hidden_names, key=len, reverse=True)
    pattern = r"(?<![\w.\-])(" + "|".join(re.escape(n) for n in names) + r")(?![\w\-])"
    return re.sub(pattern, HIDDEN, text)


def _own_usage(u: UsagePoint, v: View) -> UsagePoint | None:
    if u.entity == v.entity:
        return u
    if u.holder == v.entity:  # another entity's program on this entity's GPUs
        return replace(u, entity=HIDDEN, program=HIDDEN)
    return None


def live_sample(sample: Sample, v: View) -> Sample:
    """What the caller may see of one stored live sample (see the module)."""
    if v.whole:
        return sample
    own = v.entity
    usage = (_own_usage(u, v) for u in sample.usage)
    return replace(
        sample,
        capacity=tuple(c for c in sample.capacity if c.entity == own),
        usage=tuple(u for u in usage if u is not None),
        demand=tuple(d for d in sample.demand if d.entity == own),
        quotas=tuple(q for q in sample.quotas if q.entity == own),
        down_nodes=tuple(n for n in sample.down_nodes if n.entity == own),
        unmapped=(),
        failures=_failures(sample.failures, v),
    )


def _failures(failures: Iterable[FailurePoint], v: View) -> tuple[FailurePoint, ...]:
    return tuple(replace(f, asked=scrub(f.asked, v), error=scrub(f.error, v)) for f in failures)


def live_status(st: LiveStatus, v: View) -> LiveStatus:
    """What the caller may see of the live status (see the module). Each waste and drift
    row is one entity's own (computed from its rows alone), so keeping the caller's rows
    gives what computing on its samples alone would."""
    if v.whole:
        return st
    own = v.entity
    drift = st.drift
    if drift is not None:
        drift = replace(
            drift,
            counts=tuple(c for c in drift.counts if c.entity == own),
            quotas=tuple(q for q in drift.quotas if q.entity == own),
        )
    return replace(
        st,
        latest=live_sample(st.latest, v) if st.latest is not None else None,
        waste=tuple(w for w in st.waste if w.entity == own),
        demand=tuple(d for d in st.demand if d.entity == own),
        drift=drift,
        suggestions=tuple(x for x in st.suggestions if own in (x.from_entity, x.to_entity)),
        failures=_failures(st.failures, v),
        failures_in_window=_failures(st.failures_in_window, v),
    )
