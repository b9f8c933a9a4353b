"""Background runs: assessments and what-ifs queued, claimed, executed, recovered."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from gpufleet.errors import ConflictError, InputError
from gpufleet.governance.register.plan import seed_from_scenario
from gpufleet.governance.runs import queue
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import PersonRow, Run, RunStatus
from gpufleet.governance.transfers import lifecycle
from gpufleet.governance.transfers.assess import assess_transfer
from tests.support.governed import SMALL_MOVE, request, run_row, state

MOVE_16 = {"changes": {"move": ["16 H100 acme->beta 2024-01-03"]}, "seeds": 1}


def queue_assessment(store: Store, tid: int, seeds: int = 2) -> int:
    with store.write("test:ann") as tx:
        return lifecycle.queue_assessment(tx, tid, seeds=seeds).id


def queue_whatif(store: Store, request: dict[str, Any]) -> int:
    with store.write("test:analyst") as tx:
        return queue.queue_whatif(tx, request).id


def test_an_assessment_run_assesses_its_transfer(store: Store, people: dict[str, int]) -> None:
    tid = request(store, people["ann"], SMALL_MOVE)
    run_id = queue_assessment(store, tid)
    assert queue.RunWorker(store).run_once() == run_id
    run = run_row(store, run_id)
    assert (run.status, run.error, state(store, tid)) == ("done", "", "assessed")
    res = run.result
    assert res is not None
    # SMALL has no cost section: flat $2.00/GPU-h. 16 GPUs from 2024-01-03 to the end,
    # 2024-01-11: 8 days = 192 h -> 3,072 GPU-h x $2 = $6,144; the price is 0: flagged
    assert res["charge"] == {
        "transfer": "16 H100-SXM acme->beta 2024-01-03",
        "payer": "beta",
        "payee": "acme",
        "gpu_hours": 3072.0,
        "fair_usd": 6144,
        "price_usd": 0,
        "rule": "cost-plus $2.00/GPU-h x 1.00",
        "below_fair_value": True,
    }
    assert res["seeds"] == [7, 8]  # SMALL's seed 7 and the next
    assert sorted(res["programs"]) == ["language", "vision"]
    assert res["programs"]["vision"]["milestone"] is None  # SMALL sets no milestones
    assert set(res["programs"]["language"]["queueing_delay_mean_s"]) == {
        "mean",
        "ci95_low",
        "ci95_high",
        "n",
        "within_noise",
    }
    # every site is fully powered from the start: nothing stranded in either arm
    assert res["stranded_gpu_days"]["without"]["mean"] == 0
    assert res["stranded_gpu_days"]["delta"]["mean"] == 0
    assert res["comparison"]["variants"] == ["with-transfer"]
    with store.read() as s:
        assert lifecycle.review(s, tid)["verdict"]["price_flag"] is True


def test_a_whatif_run_compares_the_plan_with_changes(store: Store, people: dict[str, int]) -> None:
    run_id = queue_whatif(store, {**MOVE_16, "name": "lend-16"})
    queue.execute(store, run_id)
    run = run_row(store, run_id)
    assert run.status == "done" and run.result is not None
    comp = run.result["comparison"]
    assert (comp["base"], comp["variants"], comp["seeds"]) == ("plan", ["lend-16"], [7])
    assert [c["gpu_hours"] for c in comp["charges"]["lend-16"]] == [3072.0]  # 16 x 192 h


@pytest.mark.parametrize(
    ("req", "message"),
    [
        pytest.param(
            {"changes": {"move": ["16 H100 acme->gamma 2024-01-03"]}},
            "unknown entity 'gamma'",
            id="an-unknown-entity",
        ),
        pytest.param({"changes": {"teleport": ["x"]}}, "unknown kind(s) ['teleport']", id="kind"),
        pytest.param({"changes": {"move": []}}, "changes: none given", id="no-change"),
        pytest.param({**MOVE_16, "seeds": 0}, "seeds", id="no-seeds"),
        pytest.param({**MOVE_16, "name": "plan"}, "the base arm's", id="the-base-name"),
    ],
)
def test_a_bad_whatif_is_refused_when_queued(
    store: Store, people: dict[str, int], req: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError) as e:
        queue_whatif(store, req)
    assert message in e.value.render()


def add_run(store: Store, request: dict[str, Any], kind: str = "whatif") -> int:
    """A run row written directly, as an older server or another client might have."""
    with store.write("test") as tx:
        run = Run(kind=kind, request=request, created_by="test", created_at=datetime.now(UTC))
        tx.session.add(run)
        tx.session.flush()
        return run.id


def test_a_failing_run_is_stored_as_failed_with_its_message(
    store: Store, people: dict[str, int]
) -> None:
    run_id = add_run(store, {"changes": {"move": ["sixteen H100 acme->beta 2024-01-03"]}})
    assert queue.execute(store, run_id).status == "failed"
    run = run_row(store, run_id)
    assert run.status == "failed" and run.result is None and run.finished_at is not None
    assert "--move 'sixteen H100 acme->beta 2024-01-03': GPU count 'sixteen'" in run.error


def test_an_unknown_kind_fails_naming_the_kinds(store: Store, people: dict[str, int]) -> None:
    run_id = add_run(store, {}, kind="forecast")
    assert (
        queue.execute(store, run_id).error
        == "run 1: unknown kind 'forecast'; kinds: assessment, whatif"
    )


def test_a_finished_run_is_not_executed_again(store: Store, people: dict[str, int]) -> None:
    run_id = queue_whatif(store, MOVE_16)
    queue.execute(store, run_id)
    with pytest.raises(ConflictError) as e:
        queue.execute(store, run_id)
    assert e.value.code == "bad-state"


def test_claims_take_the_oldest_queued_run_once(store: Store, people: dict[str, int]) -> None:
    first, second = queue_whatif(store, MOVE_16), queue_whatif(store, MOVE_16)
    claimed = [queue.claim_next(store), queue.claim_next(store), queue.claim_next(store)]
    assert [r.id if r else None for r in claimed] == [first, second, None]
    assert run_row(store, first).status == "running"


def test_runs_left_running_by_a_killed_server_are_queued_again(
    store: Store, people: dict[str, int]
) -> None:
    run_id = queue_whatif(store, MOVE_16)
    assert queue.claim_next(store) is not None  # ... and the server dies here
    assert queue.recover(store) == [run_id]
    run = run_row(store, run_id)
    assert (run.status, run.started_at) == ("queued", None)
    assert queue.RunWorker(store).run_once() == run_id
    assert run_row(store, run_id).status == "done"


def test_an_assessment_finished_after_a_rejection_keeps_its_result(
    store: Store, people: dict[str, int]
) -> None:
    tid = request(store, people["ann"], SMALL_MOVE)
    run_id = queue_assessment(store, tid, seeds=1)
    with store.write("test:dan") as tx:
        lifecycle.reject(tx, tid, people["dan"], "no")
    queue.execute(store, run_id)
    run = run_row(store, run_id)
    assert run.status == "done" and run.result is not None
    assert "it is rejected" in run.result["not_recorded"]
    assert state(store, tid) == "rejected"


def test_a_second_assessment_waits_for_the_first(store: Store, people: dict[str, int]) -> None:
    tid = request(store, people["ann"], SMALL_MOVE)
    queue_assessment(store, tid)
    with pytest.raises(ConflictError) as e:
        queue_assessment(store, tid)
    assert e.value.code == "assessment-pending"


def test_the_worker_thread_runs_what_is_queued(store: Store, people: dict[str, int]) -> None:
    worker = queue.RunWorker(store, poll_s=30.0)  # only a wake-up makes it look before 30 s
    worker.start()
    try:
        run_id = queue_whatif(store, MOVE_16)
        worker.wake()
        deadline = time.monotonic() + 120  # generous: a guard against hanging, not a timing
        while run_row(store, run_id).status in ("queued", "running"):
            assert time.monotonic() < deadline, "the worker did not finish the run"
            time.sleep(0.05)
    finally:
        worker.stop()
    assert not worker.running
    assert run_row(store, run_id).status == RunStatus.DONE.value


def test_the_articles_move_assessed_with_one_seed(store: Store) -> None:
    with store.write("test") as tx:
        seed_from_scenario(tx)
        p = PersonRow(name="elon")
        tx.session.add(p)
        tx.session.flush()
        tid = lifecycle.request(
            tx,
            p.id,
            {
                "name": "12k H100 to xAI",
                "pool": "tesla-h100-12k",
                "gpus": 12000,
                "from_entity": "tesla",
                "to": "xai",
                "start": "2024-06-15",
                "to_site": "xai-memphis",
            },
        ).id
    run_id = queue_assessment(store, tid, seeds=1)
    res = queue.execute(store, run_id).result
    assert res is not None
    # 12,000 GPUs from 2024-06-15 to the end, 2025-03-31: 289 days = 6,936 h ->
    # 83,232,000 GPU-h x $1.50 = $124,848,000, and the price is 0
    assert (res["charge"]["gpu_hours"], res["charge"]["fair_usd"]) == (83_232_000.0, 124_848_000)
    assert res["charge"]["below_fair_value"] is True
    # kept at Tesla the 12,000 wait from delivery (06-15) for the new hall (10-15): 122
    # days x 12,000 = 1,464,000 GPU-days stranded; at xAI's powered site, none
    stranded = res["stranded_gpu_days"]
    assert stranded["without"]["mean"] == pytest.approx(1_464_000, rel=1e-3)
    assert stranded["with"]["mean"] == 0
    assert res["programs"]["grok-pretraining"]["milestone"]["shift_days"]["mean"] < 0


def test_assessing_in_one_call_gives_what_the_run_stored(
    store: Store, people: dict[str, int]
) -> None:
    tid = request(store, people["ann"], SMALL_MOVE)
    run_id = queue_assessment(store, tid, seeds=1)
    with store.read() as s:
        t = s.get(lifecycle.TransferRow, tid)
        assert t is not None
        direct = assess_transfer(s, t, seeds=1)
    assert queue.execute(store, run_id).result == direct  # the same seed, the same numbers


def test_one_worker_per_database_and_only_it_recovers_runs(
    store: Store, people: dict[str, int]
) -> None:
    # two servers on one database: the second must not requeue the first's running run
    other = Store(store.url)
    first, second = queue.WorkerLease(store), queue.WorkerLease(other)
    try:
        assert first.acquire()
        assert not second.acquire()
        run_id = queue_whatif(store, MOVE_16)
        claimed = queue.claim_next(store)
        assert claimed is not None and claimed.id == run_id
        waiting = queue.RunWorker(other, poll_s=0.05)
        waiting.start()
        time.sleep(0.5)  # it polls for the lease ten times meanwhile
        assert waiting.recovered == []
        assert run_row(store, run_id).status == RunStatus.RUNNING.value
        first.release()  # the first server dies: its lease goes with it
        deadline = time.monotonic() + 120  # a guard against hanging, not a timing
        while run_row(store, run_id).status != RunStatus.DONE.value:
            assert time.monotonic() < deadline, "the new lease holder did not take over"
            time.sleep(0.05)
        waiting.stop()
        assert waiting.recovered == [run_id]
    finally:
        first.release()
        second.release()
        other.dispose()


def test_the_audit_log_commits_to_a_runs_result_by_its_digest(
    store: Store, people: dict[str, int]
) -> None:
    # a result is a whole comparison: the finish record holds its SHA-256 and size, which
    # must match the stored result, rather than a second copy of it
    import json

    from gpufleet.governance.store import audit
    from gpufleet.governance.store.models import AuditRecord

    run_id = queue_whatif(store, MOVE_16)
    queue.execute(store, run_id)
    with store.read() as s:
        rec = s.scalars(
            select(AuditRecord)
            .where(AuditRecord.object_type == "run", AuditRecord.action == "finish")
            .order_by(AuditRecord.seq.desc())
        ).first()
        run = s.get(Run, run_id)
        assert rec is not None and run is not None and run.result is not None
        after = json.loads(rec.after)
        assert after["result"] == queue.result_digest(run.result)
        assert after["result"]["bytes"] == len(audit.canonical(run.result).encode())
        assert after["status"] == "done"
