"""Runs that cannot stall the worker (issue 10, item 5): a time and a memory budget, a run
that kills its server retried once at most, a cap per entity, round robin by entity,
and scenario sizes the engine can run (fields and totals, in files and the register)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gpufleet.cli.main import main
from gpufleet.errors import InputError, ScenarioError, TooManyRequestsError
from gpufleet.governance.register import ops
from gpufleet.governance.runs import queue
from gpufleet.governance.runs.budget import RunBudget
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import EntityRow, RunStatus
from gpufleet.governance.transfers import lifecycle
from gpufleet.inputs.scenario.load import load_scenario_text
from tests.support.governed import SMALL_MOVE, request, run_row, state
from tests.support.small_scenario import SMALL

pytestmark = pytest.mark.security

MOVE_16 = {"changes": {"move": ["16 H100 acme->beta 2024-01-03"]}, "seeds": 1}
IN_PROCESS = RunBudget(in_process=True)  # no child process: the fast way to run a run here


def entity_id(store: Store, name: str) -> int:
    with store.read() as s:
        eid = s.scalar(select(EntityRow.id).where(EntityRow.name == name))
        assert eid is not None
        return eid


def whatif(store: Store, entity: int | None, name: str = "w") -> int:
    with store.write("test:analyst") as tx:
        return queue.queue_whatif(tx, {**MOVE_16, "name": name}, entity).id


def assessment(store: Store, tid: int) -> int:
    with store.write("test:ann") as tx:
        return lifecycle.queue_assessment(tx, tid, seeds=1).id


# --- the time and memory budgets ----------------------------------------------------------


def test_a_run_past_its_time_budget_fails_saying_so_and_the_next_run_proceeds(
    store: Store, people: dict[str, int]
) -> None:
    tid = request(store, people["ann"], SMALL_MOVE)
    slow = assessment(store, tid)
    after = whatif(store, None)
    # a spawned interpreter alone takes longer than 0.05 s: the budget is always spent
    run = queue.execute(store, slow, RunBudget(timeout_s=0.05))
    assert run.status == RunStatus.FAILED.value
    assert run.error == "ran past its 0.05 s budget and was stopped"
    assert state(store, tid) == "requested"  # not assessed: it may be assessed again
    assert queue.RunWorker(store, budget=IN_PROCESS).run_once() == after
    assert run_row(store, after).status == RunStatus.DONE.value
    again = assessment(store, tid)  # the failed run left nothing pending
    assert queue.execute(store, again).status == RunStatus.DONE.value  # the default budget
    assert state(store, tid) == "assessed"


def test_a_run_past_its_memory_budget_fails_saying_so(store: Store, people: dict[str, int]) -> None:
    run_id = whatif(store, None)
    # an interpreter with numpy holds more than 40 MB resident before it simulates
    run = queue.execute(store, run_id, RunBudget(memory_mb=40))
    assert run.status == RunStatus.FAILED.value
    assert run.error == "used more than its 40 MB budget and was stopped"


def test_a_run_gives_the_same_result_in_its_process_as_in_the_server(
    store: Store, people: dict[str, int]
) -> None:
    a, b = whatif(store, None, "a"), whatif(store, None, "b")
    ra = queue.execute(store, a).result  # child process, default budget
    rb = queue.execute(store, b, IN_PROCESS).result
    assert ra is not None and rb is not None
    assert ra["comparison"]["deltas"]["a"] == rb["comparison"]["deltas"]["b"]


# --- a run that kills its server ------------------------------------------------------------


def test_a_run_that_takes_its_server_down_twice_is_failed_not_requeued_for_ever(
    store: Store, people: dict[str, int]
) -> None:
    run_id = whatif(store, None)
    claimed = queue.claim_next(store)  # attempt 1 ... and the server dies mid-run
    assert claimed is not None and claimed.attempts == 1
    assert queue.recover(store, max_attempts=2) == [run_id]  # requeued once
    assert run_row(store, run_id).status == RunStatus.QUEUED.value
    claimed = queue.claim_next(store)  # attempt 2 ... and the server dies again
    assert claimed is not None and claimed.attempts == 2
    assert queue.recover(store, max_attempts=2) == []
    run = run_row(store, run_id)
    assert run.status == RunStatus.FAILED.value
    assert run.error == (
        "the server stopped while running this run 2 times (at most 2 attempts): not run again"
    )
    assert queue.claim_next(store) is None


# --- fairness: a cap per entity, round robin by entity ----------------------------------------


def test_one_entitys_queued_runs_do_not_delay_anothers_assessment(
    store: Store, people: dict[str, int]
) -> None:
    acme = entity_id(store, "acme")
    a1, a2, a3 = (whatif(store, acme, f"a{i}") for i in (1, 2, 3))
    # beta gives 8 H100 to acme: its assessment is beta's run (the giver's)
    beta_move = {"pool": "beta-h100", "gpus": 8, "to": "acme", "start": "2024-01-03"}
    b = assessment(store, request(store, people["fay"], beta_move))
    order = []
    for _ in range(4):
        run = queue.claim_next(store)
        assert run is not None
        order.append(run.id)
    # acme and beta both never served: the oldest first (a1); then beta, served least
    # recently; then acme's others in order
    assert order == [a1, b, a2, a3]


def test_an_entity_may_have_three_runs_queued_or_running_and_a_fleet_admin_more(
    store: Store, people: dict[str, int]
) -> None:
    acme = entity_id(store, "acme")
    tid = request(store, people["ann"], SMALL_MOVE)
    assessment(store, tid)  # acme gives: acme's run
    whatif(store, acme, "one")
    queue.claim_next(store)  # running counts as much as queued
    whatif(store, acme, "two")
    with pytest.raises(TooManyRequestsError) as e:
        whatif(store, acme, "three")
    assert (e.value.code, e.value.retry_after_s) == ("too-many-runs", 60)
    assert str(e.value).startswith("acme has 3 runs queued or running, the most an entity")
    for i in range(4):
        whatif(store, None, f"fleet-{i}")  # the fleet's runs are not capped


# --- sizes the engine can run -------------------------------------------------------------------


def test_a_generator_of_a_million_jobs_a_day_is_refused_naming_the_field(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(SMALL.replace("jobs_per_day: 8", "jobs_per_day: 1e6"))
    with pytest.raises(ScenarioError) as e:
        load_scenario_text(big.read_text(), str(big))
    (p,) = e.value.problems
    assert p.field == "entities[1].programs[0].workload.generator.jobs_per_day"
    assert p.expected == "a number greater than 0 and at most 100000"
    assert main(["validate", str(big)]) == 2
    assert main(["simulate", str(big)]) == 2


def test_programs_each_under_the_limit_are_refused_when_their_jobs_add_up_past_it() -> None:
    # 90,000 jobs a day is under the per-generator 100,000. SMALL runs 10 days: language
    # at 90,000 a day makes 900,000 jobs, vision's 10 a day 100: 900,100, runnable; over
    # 30 days: 2,700,000 + 300 = 2,700,300 > 2,000,000
    text = SMALL.replace("jobs_per_day: 8", "jobs_per_day: 90000")
    assert load_scenario_text(text)
    long = text.replace("horizon_days: 10", "horizon_days: 30")
    with pytest.raises(ScenarioError) as e:
        load_scenario_text(long)
    (p,) = e.value.problems
    assert p.field == "entities[1].programs[0].workload"
    assert "expected jobs per simulation" in p.message and "2,000,000" in p.message


def test_a_program_added_to_the_register_past_the_total_is_refused_and_nothing_stored(
    store: Store, people: dict[str, int]
) -> None:
    gen = {"jobs_per_day": 99_000, "gpus": 1, "duration_hours": 1, "gpu_types": ["H100-SXM"]}
    body: dict[str, Any] = {"name": "flood", "entity": "acme", "workload": {"generator": gen}}
    # 99,000 a day x 10 days = 990,000 jobs each, SMALL's own 180: two such programs fit
    # (1,980,180), ...
    with store.write("test") as tx:
        ops.create(tx, "program", body)
    # ... a third one (2,970,180) does not
    with store.write("test") as tx:
        ops.create(tx, "program", {**body, "name": "flood-2"})
    with pytest.raises(InputError), store.write("test") as tx:
        ops.create(tx, "program", {**body, "name": "flood-3"})
    with store.read() as s:
        assert ops.find(s, "program", "flood-2") is not None
        with pytest.raises(InputError):
            ops.find(s, "program", "flood-3")


def test_a_whatif_whose_changes_scale_load_past_the_limit_is_refused_when_queued(
    store: Store, people: dict[str, int]
) -> None:
    # language's 8 jobs a day over 10 days = 80 jobs, x 30,000 = 2,400,000 > 2,000,000
    req = {"changes": {"scale": ["language x30000"]}, "seeds": 1, "name": "flood"}
    with pytest.raises(InputError) as e, store.write("test") as tx:
        queue.queue_whatif(tx, req)
    assert "too big to simulate" in str(e.value)
    assert "programs.language.workload" in e.value.render()


def test_a_negative_seed_is_a_problem_naming_it_not_an_internal_error(tmp_path: Path) -> None:
    neg = tmp_path / "neg.yaml"
    neg.write_text(SMALL.replace("seed: 7", "seed: -3"))
    assert main(["simulate", str(neg)]) == 2  # was exit 1: NumPy's "expected non-negative"
    with pytest.raises(ScenarioError) as e:
        load_scenario_text(neg.read_text())
    (p,) = e.value.problems
    assert (p.field, p.expected) == ("seed", "an integer from 0 to 9223372036854775807")


def test_a_whatif_delivering_a_billion_gpus_is_refused_naming_the_nodes(
    store: Store, people: dict[str, int]
) -> None:
    # 1,000,000,000 GPUs / 8 per node = 125,000,000 nodes, + SMALL's 14 > 200,000
    req = {"changes": {"deliver": ["1000000000 H100 acme@east 2024-01-03"]}, "name": "big"}
    with pytest.raises(InputError) as e, store.write("test") as tx:
        queue.queue_whatif(tx, {**req, "seeds": 1})
    (p,) = e.value.problems
    assert (p.file, p.field) == ("arm big", "pools")
    assert p.message.startswith("the pools hold 125,000,014 nodes together")


def test_an_assessment_counts_against_its_givers_cap(store: Store, people: dict[str, int]) -> None:
    acme = entity_id(store, "acme")
    for i in range(3):
        whatif(store, acme, f"w{i}")
    tid = request(store, people["ann"], SMALL_MOVE)  # acme gives
    with pytest.raises(TooManyRequestsError):
        assessment(store, tid)
