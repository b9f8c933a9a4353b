"""Who may approve a transfer, and how many must: the governance rules, as pure functions.

A transfer moves GPUs from one entity (a company) to another. Entities under common
control form a **group**, whose rules (:class:`Rules`) say when a transfer between two of
its members (a *related-party* transfer) needs approval by independent directors:

- ``related``            both parties are in the same group;
- ``value_usd``          ``gpus x value per GPU`` (the pool's ``value_usd / GPUs``, else the
                         catalog price of its GPU type, see :func:`gpu_value_usd`);
- ``needs_independent``  related and ``value_usd > related_threshold_usd``;
- ``approvals_required`` ``independent_approvals`` when independent approval is needed,
                         else 1.

Each person's **eligibility** is decided with reasons (each a machine ``code`` and a
human message), checked in this order:

1. ``own-request``: whoever requested the transfer cannot approve it;
2. ``conflicted``: a person with any role in *both* parties ("officer of tesla and
   director of xai") serves both sides and cannot approve;
3. ``not-independent``: when independent approval is needed, only an independent
   director (role ``independent-director``) of either party or of another entity of
   their group counts;
4. ``no-role``: otherwise an approver must be an officer, director or independent director
   of either party (or of another entity of the group of a related transfer): an employee
   or an outsider cannot commit a company.

Approvals count only from eligible people; one eligible rejection rejects the transfer.

**Frozen terms.** What a decision depends on (the parties and their groups, the value, the
rules, everyone's roles) is frozen when the transfer is requested (:mod:`.terms`) and kept
as ``Case.frozen``. Every check then runs on both the case as requested and the case now,
and the stricter answer holds: a person must be eligible under both (so a role granted or
a conflicting seat removed after the request does not count, and a conflict that arises
later does), the approvals required are the larger number, the value the larger one. A
change made after the request can make a decision harder, never easier.
**Price flag**: with the rules' ``flag_below_fair_value``, a price below the fair value
(the assessment's cost-plus or market charge, see :mod:`gpufleet.planning.whatif.charges`) is
flagged: ``price_usd + 0.5 < fair_usd`` (the same half-dollar tolerance as the charges).
Unrelated parties follow the giver's group rules, else the receiver's, else
:data:`DEFAULT_RULES` (only their assessment and price-flag settings matter then).

The rules echo how listed companies govern related-party transactions (e.g. Nasdaq Rule
5630: review and approval by the audit committee or another independent body of the board;
Delaware's safe harbour, DGCL §144: approval by disinterested directors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gpufleet.governance.store.models import RoleKind

DECIDING_ROLES = (RoleKind.OFFICER, RoleKind.DIRECTOR, RoleKind.INDEPENDENT_DIRECTOR)


@dataclass(frozen=True)
class Rules:
    """A group's rules (the ``group_rules`` row), without the database."""

    related_threshold_usd: float = 1_000_000.0
    independent_approvals: int = 2
    require_assessment: bool = True
    flag_below_fair_value: bool = True


DEFAULT_RULES = Rules()


@dataclass(frozen=True)
class Party:
    """One side of a transfer: an entity and its group (None: in no group)."""

    entity: str
    group: str | None = None


@dataclass(frozen=True)
class Role:
    """A person's role in an entity, with the entity's group."""

    entity: str
    role: RoleKind
    group: str | None = None


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    roles: tuple[Role, ...] = ()


@dataclass(frozen=True)
class Vote:
    """A recorded decision: ``approve`` or ``reject``."""

    person_id: int
    decision: str


@dataclass(frozen=True)
class Case:
    """Everything the rules look at for one transfer."""

    giver: Party
    taker: Party
    value_usd: float
    rules: Rules
    people: tuple[Person, ...]
    requester_id: int
    decisions: tuple[Vote, ...] = ()
    price_usd: float = 0.0
    fair_usd: float | None = None  # from the assessment; None before it
    # the case as it stood when the transfer was requested (its frozen terms, see
    # gpufleet.governance.transfers.terms); None for the frozen case itself or before any request
    frozen: Case | None = None


@dataclass(frozen=True)
class Objection:
    code: str  # own-request | conflicted | not-independent | no-role
    message: str


@dataclass(frozen=True)
class Eligibility:
    person_id: int
    name: str
    reasons: tuple[Objection, ...] = ()

    @property
    def eligible(self) -> bool:
        return not self.reasons

    def as_dict(self) -> dict[str, object]:
        return {
            "person_id": self.person_id,
            "name": self.name,
            "eligible": self.eligible,
            "reasons": [{"code": r.code, "message": r.message} for r in self.reasons],
        }


@dataclass(frozen=True)
class Verdict:
    related: bool
    value_usd: float
    needs_independent: bool
    approvals_required: int
    approvals: int  # approvals by eligible people
    rejections: int  # rejections by eligible people
    eligibility: dict[int, Eligibility] = field(default_factory=dict)
    price_flag: bool | None = None  # None: no fair value yet, or the rules do not flag

    @property
    def approved(self) -> bool:
        return self.approvals >= self.approvals_required and not self.rejections

    def as_dict(self) -> dict[str, object]:
        return {
            "related": self.related,
            "value_usd": round(self.value_usd, 2),
            "needs_independent": self.needs_independent,
            "approvals_required": self.approvals_required,
            "approvals": self.approvals,
            "rejections": self.rejections,
            "price_flag": self.price_flag,
            "eligibility": [e.as_dict() for e in self.eligibility.values()],
        }


def gpu_value_usd(
    pool_value_usd: float | None, nodes: int, gpus_per_node: int, catalog_price_usd: float
) -> float:
    """Value of one GPU of a pool: its value over its GPUs, else the catalog price."""
    if pool_value_usd is None:
        return catalog_price_usd
    return pool_value_usd / (nodes * gpus_per_node)


def rules_for(giver_rules: Rules | None, taker_rules: Rules | None) -> Rules:
    """The rules of a transfer: the giver's group's, else the receiver's, else defaults
    (a related transfer has one group, so both are the same)."""
    return giver_rules or taker_rules or DEFAULT_RULES


def is_related(c: Case) -> bool:
    return c.giver.group is not None and c.giver.group == c.taker.group


def _needs_independent_now(c: Case) -> bool:
    return is_related(c) and c.value_usd > c.rules.related_threshold_usd


def _approvals_required_now(c: Case) -> int:
    return c.rules.independent_approvals if _needs_independent_now(c) else 1


def needs_independent(c: Case) -> bool:
    """Related and over the threshold, now or when the transfer was requested."""
    return _needs_independent_now(c) or (c.frozen is not None and _needs_independent_now(c.frozen))


def approvals_required(c: Case) -> int:
    """The larger of the number required now and when the transfer was requested."""
    now = _approvals_required_now(c)
    return max(now, _approvals_required_now(c.frozen)) if c.frozen is not None else now


def requires_assessment(c: Case) -> bool:
    """Approval needs an assessment under the rules now or as they were at the request."""
    return c.rules.require_assessment or (
        c.frozen is not None and c.frozen.rules.require_assessment
    )


def value_usd(c: Case) -> float:
    """The larger of the transfer's value now and when it was requested."""
    return max(c.value_usd, c.frozen.value_usd) if c.frozen is not None else c.value_usd


def _describe(roles: Sequence[Role]) -> str:
    return " and ".join(f"{r.role.value} of {r.entity}" for r in roles)


AS_REQUESTED = "when the transfer was requested: "


def eligibility(c: Case, p: Person) -> Eligibility:
    """Whether ``p`` may decide on the transfer, with every reason they may not: under the
    case as it is now and, when ``c.frozen`` holds the case as requested, under that one
    too (with the roles ``p`` had then; none if they had none), so a change made after the
    request (a role added or removed, the pool re-valued, the rules relaxed) can only make
    a decision harder, never easier. A reason found only in the frozen case says so."""
    reasons = list(_eligibility_now(c, p))
    if c.frozen is not None:
        then = next((x for x in c.frozen.people if x.id == p.id), Person(p.id, p.name, ()))
        codes = {r.code for r in reasons}
        for r in _eligibility_now(c.frozen, then):
            if r.code not in codes:
                reasons.append(Objection(r.code, AS_REQUESTED + r.message))
    return Eligibility(p.id, p.name, tuple(reasons))


def _eligibility_now(c: Case, p: Person) -> tuple[Objection, ...]:
    reasons: list[Objection] = []
    parties = {c.giver.entity, c.taker.entity}
    group = c.giver.group if is_related(c) else None
    if p.id == c.requester_id:
        reasons.append(Objection("own-request", f"{p.name} requested this transfer"))
    giver_roles = [r for r in p.roles if r.entity == c.giver.entity]
    taker_roles = [r for r in p.roles if r.entity == c.taker.entity]
    if giver_roles and taker_roles:
        both = _describe([giver_roles[0], taker_roles[0]])
        reasons.append(Objection("conflicted", f"{p.name} is {both}: a role on both sides"))

    def counts(r: Role, kinds: Sequence[RoleKind]) -> bool:
        in_scope = r.entity in parties or (group is not None and r.group == group)
        return in_scope and r.role in kinds

    scope = " or ".join(sorted(parties)) + (f" or their group {group!r}" if group else "")
    if _needs_independent_now(c):
        if not any(counts(r, (RoleKind.INDEPENDENT_DIRECTOR,)) for r in p.roles):
            reasons.append(
                Objection(
                    "not-independent",
                    f"{p.name} is not an independent director of {scope}: this related-party "
                    f"transfer of ${c.value_usd:,.0f} exceeds the "
                    f"${c.rules.related_threshold_usd:,.0f} threshold",
                )
            )
    elif not any(counts(r, DECIDING_ROLES) for r in p.roles):
        reasons.append(Objection("no-role", f"{p.name} is not an officer or director of {scope}"))
    return tuple(reasons)


def price_flag(c: Case) -> bool | None:
    """True: the price is below the fair value and the rules flag that; None: unknown."""
    flags = c.rules.flag_below_fair_value or (
        c.frozen is not None and c.frozen.rules.flag_below_fair_value
    )
    if not flags or c.fair_usd is None:
        return None
    return c.price_usd + 0.5 < c.fair_usd


def evaluate(c: Case) -> Verdict:
    """The whole verdict: relation, approvals required and counted, eligibility of each
    person, the price flag."""
    elig = {p.id: eligibility(c, p) for p in c.people}
    ok = {pid for pid, e in elig.items() if e.eligible}
    approvals = sum(1 for d in c.decisions if d.decision == "approve" and d.person_id in ok)
    rejections = sum(1 for d in c.decisions if d.decision == "reject" and d.person_id in ok)
    return Verdict(
        related=is_related(c) or (c.frozen is not None and is_related(c.frozen)),
        value_usd=value_usd(c),
        needs_independent=needs_independent(c),
        approvals_required=approvals_required(c),
        approvals=approvals,
        rejections=rejections,
        eligibility=elig,
        price_flag=price_flag(c),
    )
