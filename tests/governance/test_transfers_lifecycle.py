"""A transfer's lifecycle: request, assessment, approvals, activation, end, revocation;
every step recorded and audited; refusals with their codes; concurrent changes."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from gpufleet.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from gpufleet.governance.register.plan import plan_doc, plan_scenario
from gpufleet.governance.store.audit import verify
from gpufleet.governance.store.db import Store, Tx
from gpufleet.governance.store.models import AuditHead, AuditRecord, TransferRow
from gpufleet.governance.transfers import lifecycle
from tests.support.governed import (
    BIG_MOVE,
    SMALL_MOVE,
    fake_assessment,
    governed_register,
    request,
    state,
)


def approve(store: Store, tid: int, who: int, **kw: Any) -> TransferRow:
    with store.write(f"test:person-{who}") as tx:
        return lifecycle.approve(tx, tid, who, **kw)


def step_list(store: Store, tid: int) -> list[tuple[str | None, str, str]]:
    with store.read() as s:
        return [(x.from_state, x.to_state, x.note) for x in lifecycle.steps(s, tid)]


# --- request -----------------------------------------------------------------------------


def test_a_request_is_recorded_with_its_first_step_and_audit(
    store: Store, people: dict[str, int]
) -> None:
    tid = request(store, people["ann"], SMALL_MOVE)
    with store.read() as s:
        t = s.get(TransferRow, tid)
        assert t is not None
        assert (t.name, t.state, t.version) == ("16 H100-SXM acme->beta 2024-01-03", "requested", 1)
        assert [(x.from_state, x.to_state, x.actor) for x in lifecycle.steps(s, tid)] == [
            (None, "requested", "test:ann")
        ]
        last = s.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc())).first()
        assert last is not None
        assert (last.action, last.object_type, last.object_id) == ("request", "transfer", str(tid))
        assert "requested" not in plan_doc(s)["timeline"]  # not in the plan before approval
        assert plan_doc(s)["timeline"] == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"pool": "nope"}, "pool: unknown pool 'nope'", id="unknown-pool"),
        pytest.param({"gpus": 12}, "gpus: 12 is not whole nodes", id="part-of-a-node"),
        pytest.param(
            {"gpus": 72},
            # acme-h100: 8 nodes x 8 = 64 GPUs
            "gpus: on 2024-01-03 'acme' holds 64 GPUs of pool 'acme-h100'",
            id="more-than-the-pool",
        ),
        pytest.param(
            {"from_entity": "beta", "to": "acme"},
            "'beta' holds 0 GPUs of pool 'acme-h100'",
            id="not-the-holder",
        ),
        pytest.param(
            {"start": "2023-12-31"},
            "start: 2023-12-31 is outside the plan (2024-01-01 .. 2024-01-11)",
            id="before-the-plan",
        ),
        pytest.param(
            {"end": "2024-01-02"}, "end: 2024-01-02 is not after the start", id="ends-first"
        ),
        pytest.param({"to_site": "north"}, "to_site: unknown site 'north'", id="unknown-site"),
        pytest.param(
            {"to_program": "vision"},
            "to_program: 'vision' is not a program of 'beta'",
            id="the-givers-program",
        ),
        pytest.param({"to": "acme"}, "to: a transfer from 'acme' to itself", id="to-itself"),
        pytest.param({"to": "gamma"}, "to: unknown entity 'gamma'", id="unknown-entity"),
    ],
)
def test_a_bad_request_names_its_field(
    store: Store, people: dict[str, int], change: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError) as e:
        request(store, people["ann"], {**SMALL_MOVE, **change})
    assert message in e.value.render()
    with store.read() as s:
        assert s.scalars(select(TransferRow)).all() == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"gpus": 0}, "gpus", id="zero-gpus"),
        pytest.param({"colour": "red"}, "colour", id="an-unknown-field"),
        pytest.param({"start": "soon"}, "start", id="not-a-date"),
    ],
)
def test_a_malformed_request_lists_its_fields(
    store: Store, people: dict[str, int], change: dict[str, Any], field: str
) -> None:
    with pytest.raises(InputError) as e:
        request(store, people["ann"], {**SMALL_MOVE, **change})
    assert e.value.problems[0].field.startswith(field)


def test_a_requester_must_exist(store: Store, people: dict[str, int]) -> None:
    with pytest.raises(NotFoundError):
        request(store, 999, SMALL_MOVE)


def test_gpus_received_earlier_can_be_passed_on(store: Store, people: dict[str, int]) -> None:
    tid = request(store, people["ann"], SMALL_MOVE)
    fake_assessment(store, tid)
    approve(store, tid, people["fay"])
    back = {"pool": "acme-h100", "from_entity": "beta", "to": "acme", "start": "2024-01-05"}
    # beta holds 16 of acme's GPUs from the 3rd: 16 may go back, 24 may not
    with pytest.raises(InputError, match="'beta' holds 16 GPUs of pool 'acme-h100'"):
        request(store, people["fay"], {**back, "gpus": 24})
    request(store, people["fay"], {**back, "gpus": 16})


def test_a_name_in_use_is_refused(store: Store, people: dict[str, int]) -> None:
    request(store, people["ann"], SMALL_MOVE)
    with pytest.raises(ConflictError) as e:
        request(store, people["ann"], SMALL_MOVE)
    assert e.value.code == "name-taken"


# --- the whole way -----------------------------------------------------------------------


def test_request_assess_approve_activate_end(store: Store, people: dict[str, int]) -> None:
    tid = request(store, people["ann"], SMALL_MOVE)
    run_id = fake_assessment(store, tid)
    assert state(store, tid) == "assessed"
    t = approve(store, tid, people["fay"], note="fine by beta")
    assert (t.state, t.version) == ("approved", 3)  # 1 requested, 2 assessed, 3 approved
    with store.write("test:ops") as tx:
        lifecycle.activate(tx, tid)
    with store.write("test:ops") as tx:
        t = lifecycle.end(tx, tid, "2024-01-08", by=people["fay"])  # a permanent one: a decision
    assert (t.state, t.end, t.assessment_run_id) == ("ended", "2024-01-08", run_id)
    assert step_list(store, tid) == [
        (None, "requested", ""),
        ("requested", "assessed", f"assessed by run {run_id}"),
        ("assessed", "approved", "approved (1 needed) by fay: fine by beta"),
        ("approved", "active", ""),
        ("active", "ended", "ended on 2024-01-08"),
    ]
    with store.read() as s:
        sc = plan_scenario(s)
        assert verify(s).ok
    assert [(x.gpus, f"{x.start:%m-%d}", f"{x.end:%m-%d}") for x in sc.transfers] == [
        (16, "01-03", "01-08")
    ]


def test_a_big_related_transfer_needs_two_independent_directors(
    store: Store, people: dict[str, int]
) -> None:
    tid = request(store, people["ann"], BIG_MOVE)
    fake_assessment(store, tid)
    with pytest.raises(ForbiddenError) as e:
        approve(store, tid, people["fay"])  # an officer, not independent: $1,920,000 > $1M
    assert e.value.code == "not-independent"
    assert approve(store, tid, people["cat"]).state == "assessed"
    assert approve(store, tid, people["dan"]).state == "approved"
    assert [n for _, _, n in step_list(store, tid)][-2:] == [
        "approval 1 of 2 by cat",
        "approved (2 needed) by dan",
    ]


@pytest.mark.parametrize(
    ("who", "code"),
    [
        pytest.param("ann", "own-request", id="the-requester"),
        pytest.param("bob", "conflicted", id="officer-of-acme-and-director-of-beta"),
        pytest.param("eve", "no-role", id="an-employee"),
    ],
)
def test_an_ineligible_person_is_forbidden(
    store: Store, people: dict[str, int], who: str, code: str
) -> None:
    tid = request(store, people["ann"], SMALL_MOVE)
    fake_assessment(store, tid)
    with pytest.raises(ForbiddenError) as e:
        approve(store, tid, people[who])
    assert e.value.code == code
    assert state(store, tid) == "assessed"


def test_a_person_decides_once(store: Store, people: dict[str, int]) -> None:
    tid = request(store, people["ann"], BIG_MOVE)
    fake_assessment(store, tid)
    approve(store, tid, people["cat"])
    with pytest.raises(ConflictError) as e:
        approve(store, tid, people["cat"])
    assert e.value.code == "already-decided"


def test_approval_waits_for_the_assessment(store: Store, people: dict[str, int]) -> None:
    tid = request(store, people["ann"], SMALL_MOVE)
    with pytest.raises(ConflictError) as e:
        approve(store, tid, people["fay"])
    assert e.value.code == "not-assessed"


def test_without_required_assessment_a_request_can_be_approved(store: Store) -> None:
    people = governed_register(store, require_assessment=False)
    tid = request(store, people["ann"], SMALL_MOVE)
    assert approve(store, tid, people["fay"]).state == "approved"


def test_one_eligible_rejection_rejects(store: Store, people: dict[str, int]) -> None:
    tid = request(store, people["ann"], BIG_MOVE)
    fake_assessment(store, tid)
    approve(store, tid, people["cat"])
    with store.write("test:dan") as tx:
        assert lifecycle.reject(tx, tid, people["dan"], "not at that price").state == "rejected"
    with pytest.raises(ConflictError) as e:
        approve(store, tid, people["fay"])
    assert e.value.code == "bad-state"


def test_the_review_shows_the_price_flag_and_who_may_decide(
    store: Store, people: dict[str, int]
) -> None:
    tid = request(store, people["ann"], SMALL_MOVE)  # price 0
    fake_assessment(store, tid, fair_usd=1000.0)
    with store.read() as s:
        v = lifecycle.review(s, tid)["verdict"]
    assert (v["price_flag"], v["approvals_required"], v["value_usd"]) == (True, 1, 480_000)
    eligible = sorted(e["name"] for e in v["eligibility"] if e["eligible"])
    assert eligible == ["cat", "dan", "fay"]


# --- after approval ------------------------------------------------------------------------


def approved(store: Store, people: dict[str, int], fields: dict[str, Any] = SMALL_MOVE) -> int:
    tid = request(store, people["ann"], fields)
    fake_assessment(store, tid)
    approve(store, tid, people["fay"])
    return tid


@pytest.mark.parametrize(
    ("action", "code"),
    [
        pytest.param(
            lambda tx, tid: lifecycle.activate(tx, tid), "bad-state", id="activate-a-request"
        ),
        pytest.param(
            lambda tx, tid: lifecycle.end(tx, tid, "2024-01-05"), "bad-state", id="end-a-request"
        ),
        pytest.param(
            lambda tx, tid: lifecycle.revoke(tx, tid, by=1), "bad-state", id="revoke-a-request"
        ),
        pytest.param(
            lambda tx, tid: lifecycle.record_assessment(tx, lifecycle.Run(id=0, transfer_id=tid)),
            None,
            id="record-an-assessment-twice",
        ),
    ],
)
def test_steps_out_of_order_are_refused(
    store: Store, people: dict[str, int], action: Any, code: str | None
) -> None:
    tid = request(store, people["ann"], SMALL_MOVE)
    if code is None:  # assessed already: recording again is out of order
        fake_assessment(store, tid)
    with pytest.raises(ConflictError) as e, store.write("test") as tx:
        action(tx, tid)
    assert e.value.code == "bad-state"


def test_revoking_takes_a_transfer_out_of_the_plan(store: Store, people: dict[str, int]) -> None:
    tid = approved(store, people)
    with store.write("test:ops") as tx:
        lifecycle.activate(tx, tid)
    with store.write("test:board") as tx:
        assert lifecycle.revoke(tx, tid, "the board said no", by=people["fay"]).state == "revoked"
    with store.read() as s:
        assert plan_scenario(s).transfers == ()


def test_a_revocation_that_would_break_the_plan_is_refused(
    store: Store, people: dict[str, int]
) -> None:
    first = approved(store, people)
    back = {"pool": "acme-h100", "gpus": 16, "from_entity": "beta", "to": "acme"}
    second = request(store, people["fay"], {**back, "start": "2024-01-06", "name": "back"})
    fake_assessment(store, second)
    approve(store, second, people["cat"])
    with pytest.raises(ConflictError) as e, store.write("test:board") as tx:
        lifecycle.revoke(tx, first, by=people["fay"])
    assert e.value.code == "plan-conflict"
    assert "'beta' holds 0 GPUs" in str(e.value)
    assert state(store, first) == "approved"  # rolled back


def test_a_permanent_transfer_ends_only_on_a_date(store: Store, people: dict[str, int]) -> None:
    tid = approved(store, people)
    with store.write("test:ops") as tx:
        lifecycle.activate(tx, tid)
    with pytest.raises(InputError, match=r"at: transfer \d+ is permanent"), store.write("t") as tx:
        lifecycle.end(tx, tid)
    with pytest.raises(InputError, match="not after the transfer's start"), store.write("t") as tx:
        lifecycle.end(tx, tid, "2024-01-02")


def test_a_lease_ends_at_its_own_end(store: Store, people: dict[str, int]) -> None:
    tid = approved(store, people, {**SMALL_MOVE, "end": "2024-01-09"})
    with store.write("test:ops") as tx:
        lifecycle.activate(tx, tid)
    with store.write("test:ops") as tx:
        assert lifecycle.end(tx, tid).end == "2024-01-09"


# --- concurrency -------------------------------------------------------------------------


def test_a_stale_expected_version_is_refused(store: Store, people: dict[str, int]) -> None:
    tid = approved(store, people)  # version 3
    with pytest.raises(ConflictError) as e, store.write("test") as tx:
        lifecycle.activate(tx, tid, expected_version=2)
    assert e.value.code == "stale-state"
    with store.write("test") as tx:
        assert lifecycle.activate(tx, tid, expected_version=3).version == 4


def test_two_concurrent_activations_have_one_winner(store: Store, people: dict[str, int]) -> None:
    tid = approved(store, people)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def activate() -> None:
        start.wait()
        try:
            with store.write("test:ops") as tx:
                lifecycle.activate(tx, tid)
            outcomes.append("won")
        except ConflictError as e:
            outcomes.append(e.code)

    threads = [threading.Thread(target=activate) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(outcomes) == ["bad-state", "won"]
    assert [s for _, s, _ in step_list(store, tid)].count("active") == 1


def unlocked_tx(store: Store, actor: str) -> Tx:
    """A writing transaction WITHOUT the writer lock: what the version check guards."""
    s = Session(store.engine, expire_on_commit=False)
    head = s.get(AuditHead, 1)
    assert head is not None
    return Tx(s, actor, head)


def test_without_the_writer_lock_the_version_check_stops_the_second(
    store: Store, people: dict[str, int]
) -> None:
    if store.backend == "sqlite":
        pytest.skip("SQLite locks the whole file: a stale reader cannot write at all")
    tid = approved(store, people)
    a, b = unlocked_tx(store, "test:a"), unlocked_tx(store, "test:b")
    try:
        seen = [a.session.get(TransferRow, tid), b.session.get(TransferRow, tid)]  # both: version 3
        assert [t.version for t in seen if t] == [3, 3]
        lifecycle.activate(a, tid)
        a.session.commit()
        with pytest.raises(ConflictError) as e:
            lifecycle.activate(b, tid)  # its copy still says approved, version 3
        assert e.value.code == "stale-state"
    finally:
        a.session.close()
        b.session.rollback()
        b.session.close()
    assert state(store, tid) == "active"
