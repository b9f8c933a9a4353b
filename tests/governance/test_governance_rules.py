"""The governance rules, case by case: related parties, thresholds, who may approve."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gpufleet.governance.store.models import RoleKind
from gpufleet.governance.transfers.rules import (
    DEFAULT_RULES,
    Case,
    Party,
    Person,
    Role,
    Rules,
    Vote,
    eligibility,
    evaluate,
    gpu_value_usd,
    rules_for,
)

OFFICER, DIRECTOR, EMPLOYEE, INDEPENDENT = (
    RoleKind.OFFICER,
    RoleKind.DIRECTOR,
    RoleKind.EMPLOYEE,
    RoleKind.INDEPENDENT_DIRECTOR,
)
GROUP = "musk"


def role(entity: str, kind: RoleKind) -> Role:
    group = None if entity in ("nvidia", "acme") else GROUP
    return Role(entity, kind, group)


PEOPLE = (
    Person(1, "elon", (role("tesla", OFFICER), role("xai", DIRECTOR))),
    Person(2, "robyn", (role("tesla", INDEPENDENT),)),
    Person(3, "kathleen", (role("xai", INDEPENDENT),)),
    Person(4, "james", (role("spacex", INDEPENDENT),)),  # another company of the group
    Person(5, "vaibhav", (role("tesla", OFFICER),)),
    Person(6, "ira", (role("tesla", EMPLOYEE),)),
    Person(7, "jensen", (role("nvidia", INDEPENDENT),)),  # outside the group
    Person(8, "zach", (role("xai", OFFICER),)),  # the requester
)
BY_NAME = {p.name: p for p in PEOPLE}

# The article's move: 12,000 H100 of a $500M pool of 1,500 nodes x 8:
# 12,000 x 500,000,000 / 12,000 = $500,000,000 > the $1M threshold.
BIG = Case(
    giver=Party("tesla", GROUP),
    taker=Party("xai", GROUP),
    value_usd=12_000 * gpu_value_usd(500_000_000, 1500, 8, 30_000),
    rules=Rules(related_threshold_usd=1_000_000, independent_approvals=2),
    people=PEOPLE,
    requester_id=8,
)
# 8 H100 at the catalog's $30,000 = $240,000: under the threshold
SMALL = replace(BIG, value_usd=8 * gpu_value_usd(None, 1, 8, 30_000))
UNRELATED = replace(BIG, taker=Party("acme", None))


def test_a_gpu_is_worth_its_pools_value_share_else_its_catalog_price() -> None:
    assert gpu_value_usd(500_000_000, 1500, 8, 30_000) == pytest.approx(41_666.667, abs=1e-3)
    assert gpu_value_usd(None, 1500, 8, 30_000) == 30_000


@pytest.mark.parametrize(
    ("case", "related", "needs_independent", "required"),
    [
        pytest.param(BIG, True, True, 2, id="the-article's-500M-move-needs-2-independents"),
        pytest.param(SMALL, True, False, 1, id="240k-within-the-group-is-under-the-threshold"),
        pytest.param(
            replace(BIG, value_usd=1_000_000),
            True,
            False,
            1,
            id="exactly-the-threshold-is-not-over",
        ),
        pytest.param(UNRELATED, False, False, 1, id="an-outside-buyer-is-not-a-related-party"),
        pytest.param(
            replace(BIG, rules=replace(BIG.rules, independent_approvals=3)),
            True,
            True,
            3,
            id="the-group-can-ask-for-3",
        ),
    ],
)
def test_relation_and_approvals_required(
    case: Case, related: bool, needs_independent: bool, required: int
) -> None:
    v = evaluate(case)
    assert (v.related, v.needs_independent, v.approvals_required) == (
        related,
        needs_independent,
        required,
    )


@pytest.mark.parametrize(
    ("case", "person", "codes"),
    [
        pytest.param(BIG, "robyn", [], id="an-independent-director-of-the-giver-may-approve"),
        pytest.param(BIG, "kathleen", [], id="an-independent-director-of-the-taker-may-approve"),
        pytest.param(BIG, "james", [], id="an-independent-director-in-the-group-may-approve"),
        pytest.param(
            BIG, "elon", ["conflicted", "not-independent"], id="officer-and-director-on-both-sides"
        ),
        pytest.param(BIG, "zach", ["own-request", "not-independent"], id="the-requester"),
        pytest.param(BIG, "vaibhav", ["not-independent"], id="an-officer-is-not-independent"),
        pytest.param(BIG, "jensen", ["not-independent"], id="independent-but-outside-the-group"),
        pytest.param(SMALL, "vaibhav", [], id="under-the-threshold-an-officer-may-approve"),
        pytest.param(SMALL, "james", [], id="under-the-threshold-a-group-director-may-approve"),
        pytest.param(SMALL, "ira", ["no-role"], id="an-employee-cannot-commit-the-company"),
        pytest.param(SMALL, "jensen", ["no-role"], id="an-outsider-cannot-approve"),
        pytest.param(SMALL, "elon", ["conflicted"], id="conflicted-whatever-the-value"),
        pytest.param(UNRELATED, "james", ["no-role"], id="unrelated-so-the-group-has-no-say"),
        pytest.param(UNRELATED, "vaibhav", [], id="unrelated-the-givers-officer-may-approve"),
    ],
)
def test_who_may_approve(case: Case, person: str, codes: list[str]) -> None:
    e = eligibility(case, BY_NAME[person])
    assert [r.code for r in e.reasons] == codes
    assert e.eligible == (not codes)


def test_the_conflict_names_both_roles() -> None:
    e = eligibility(BIG, BY_NAME["elon"])
    assert (
        e.reasons[0].message == "elon is officer of tesla and director of xai: a role on both sides"
    )


def test_not_independent_says_the_value_and_the_threshold() -> None:
    e = eligibility(BIG, BY_NAME["vaibhav"])
    assert "$500,000,000 exceeds the $1,000,000 threshold" in e.reasons[0].message


@pytest.mark.parametrize(
    ("decisions", "approvals", "rejections", "approved"),
    [
        pytest.param([("robyn", "approve")], 1, 0, False, id="one-of-two"),
        pytest.param([("robyn", "approve"), ("kathleen", "approve")], 2, 0, True, id="two-of-two"),
        pytest.param(
            [("robyn", "approve"), ("elon", "approve"), ("vaibhav", "approve")],
            1,
            0,
            False,
            id="ineligible-approvals-do-not-count",
        ),
        pytest.param(
            [("robyn", "approve"), ("ira", "reject")],
            1,
            0,
            False,
            id="an-ineligible-rejection-does-not-count",
        ),
        pytest.param(
            [("robyn", "approve"), ("kathleen", "approve"), ("james", "reject")],
            2,
            1,
            False,
            id="one-eligible-rejection-blocks",
        ),
    ],
)
def test_counting_decisions(
    decisions: list[tuple[str, str]], approvals: int, rejections: int, approved: bool
) -> None:
    case = replace(BIG, decisions=tuple(Vote(BY_NAME[n].id, d) for n, d in decisions))
    v = evaluate(case)
    assert (v.approvals, v.rejections, v.approved) == (approvals, rejections, approved)


@pytest.mark.parametrize(
    ("price", "fair", "flag_rule", "flag"),
    [
        pytest.param(0.0, 25_000_000.0, True, True, id="the-article's-free-move-is-flagged"),
        pytest.param(25_000_000.0, 25_000_000.0, True, False, id="at-fair-value"),
        pytest.param(999.6, 1000.0, True, False, id="within-half-a-dollar"),  # 999.6 + 0.5 >= 1000
        pytest.param(0.0, 1000.0, False, None, id="the-group-does-not-flag"),
        pytest.param(0.0, None, True, None, id="not-assessed-yet"),
    ],
)
def test_price_below_fair_value(
    price: float, fair: float | None, flag_rule: bool, flag: bool | None
) -> None:
    rules = replace(BIG.rules, flag_below_fair_value=flag_rule)
    assert evaluate(replace(BIG, price_usd=price, fair_usd=fair, rules=rules)).price_flag is flag


def test_unrelated_parties_follow_the_givers_rules_then_the_takers() -> None:
    giver, taker = Rules(require_assessment=False), Rules(flag_below_fair_value=False)
    assert rules_for(giver, taker) is giver
    assert rules_for(None, taker) is taker
    assert rules_for(None, None) == DEFAULT_RULES


def test_the_verdict_is_plain_json() -> None:
    d = evaluate(SMALL).as_dict()
    assert d["approvals_required"] == 1
    assert d["value_usd"] == 240_000  # 8 x $30,000
    names = [e["name"] for e in d["eligibility"]]  # type: ignore[union-attr]
    assert names == [p.name for p in PEOPLE]
