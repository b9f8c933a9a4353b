"""Why a job is pending: reasons for every waiting job, their time-weighted accounting per
program, ``Simulation.run_until`` and the ``gpufleet explain`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpufleet.cli.main import main
from gpufleet.domain.reasons import Reason
from gpufleet.planning.report.compare import comparison
from gpufleet.sim.simulator import Simulation
from tests.support.builders import Harness
from tests.support.scenarios import mixed, one_site

Capture = pytest.CaptureFixture[str]
H = 3600.0

# One 8-GPU node. A (8 GPUs) runs 0-10 h; B (8 GPUs, 1 h) arrives at 2 h and waits for
# capacity until 10 h; C (1 GPU, 1 h) arrives at 3 h behind B under strict FIFO until 10 h,
# then waits for capacity while B runs (10-11 h), and runs 11-12 h.
ABC = """      - name: p
        quotas: {H100-SXM: {nominal: 8}}
        workload:
          jobs:
            - {submit: 2025-01-01T00:00:00, gpus: 8, duration_hours: 10}
            - {submit: 2025-01-01T02:00:00, gpus: 8, duration_hours: 1}
            - {submit: 2025-01-01T03:00:00, gpus: 1, duration_hours: 1}"""
ONE_NODE = "  - {name: pool, site: dc, gpu_type: H100-SXM, nodes: 1, owner: e}"


def one_job(gpu_types: str = "H100-SXM") -> str:
    return f"""      - name: p
        quotas: {{H100-SXM: {{nominal: 8}}}}
        workload:
          jobs: [{{submit: 2025-01-01, gpus: 8, duration_hours: 1, gpu_types: [{gpu_types}]}}]"""


def abc(policy: str = "fifo") -> Simulation:
    return Simulation(one_site(policy=policy, pools=ONE_NODE, programs=ABC, horizon_days=1))


# --- accounting, by hand ------------------------------------------------------------------
def test_capacity_and_behind_hours_match_the_hand_count() -> None:
    res = abc().run()
    # B: capacity 2-10 h = 8; C: behind 3-10 h = 7, capacity 10-11 h = 1
    assert res.programs["p"]["pending_reasons_hours"] == {
        "not-enough-ready-capacity": 9.0,
        "blocked-behind-earlier-job": 7.0,
    }
    assert res.fleet["pending_reasons_hours"] == res.programs["p"]["pending_reasons_hours"]


def test_the_reason_hours_add_up_to_the_queueing_delay() -> None:
    res = abc().run()
    waited_h = float(res.jobs["queueing_delay_s"].sum()) / H
    assert sum(res.programs["p"]["pending_reasons_hours"].values()) == pytest.approx(waited_h)


def test_a_site_without_power_until_day_two_counts_site_not_ready() -> None:
    sc = one_site(
        site="  - {name: dc, power_kw: 1000, ready: [{date: 2025-01-02, power_kw: 1000}]}",
        pools=ONE_NODE,
        programs=one_job(),
        horizon_days=3,
    )
    res = Simulation(sc).run()
    assert res.programs["p"]["pending_reasons_hours"] == {"site-not-ready": 24.0}


def test_gpus_not_delivered_yet_and_a_type_that_does_not_exist_are_told_apart() -> None:
    late = "  - {name: pool, site: dc, gpu_type: H100-SXM, nodes: 1, owner: e, "
    late += "delivered: 2025-01-03}"
    res = Simulation(one_site(pools=late, programs=one_job(), horizon_days=3)).run()
    assert res.programs["p"]["pending_reasons_hours"] == {"gpus-not-delivered": 48.0}
    res = Simulation(one_site(pools=ONE_NODE, programs=one_job("A100-80GB"))).run()
    # never runs: pending the whole 5-day horizon, still open at the end
    assert res.programs["p"]["pending_reasons_hours"] == {"gpu-type-not-available": 120.0}


# --- the rule, on the engine ----------------------------------------------------------------
def test_every_pending_job_has_a_reason_after_a_cycle_and_changes_are_reported_once() -> None:
    h = Harness("fifo", nodes=[8])
    a = h.submit("a", 8)
    b = h.submit("a", 8)
    c = h.submit("a", 1)
    h.cycle(0.0)
    assert (a.reason, b.reason, c.reason) == ("", Reason.CAPACITY, Reason.BEHIND)
    assert h.rec.reasons == [(1, "", Reason.CAPACITY, 0.0), (2, "", Reason.BEHIND, 0.0)]
    h.submit("a", 2, at=5.0)
    h.cycle(5.0)  # B still blocks: only the newcomer changes
    assert h.rec.reasons[2:] == [(3, "", Reason.BEHIND, 5.0)]
    h.finish(a, 10.0)
    h.cycle(10.0)  # B starts; C is examined now and blocked by capacity
    assert c.reason == Reason.CAPACITY and c.reason_since_s == 10.0
    assert (2, Reason.BEHIND, Reason.CAPACITY, 10.0) in h.rec.reasons


def test_a_preempted_job_is_marked_until_its_cohorts_next_cycle() -> None:
    h = Harness("priority", nodes=[8])
    low = h.submit("a", 8, priority=0)
    h.cycle(0.0)
    h.submit("a", 8, priority=5, at=1.0)
    h.cycle(1.0)
    assert low.reason == Reason.PREEMPTED and low.reason_since_s == 1.0
    h.submit("a", 1, at=2.0)
    h.cycle(2.0)
    assert low.reason == Reason.CAPACITY


def test_every_sentence_is_written() -> None:
    for r in Reason:
        assert r.sentence and not r.sentence.endswith(".")


# --- run_until and determinism --------------------------------------------------------------
def test_run_until_stops_after_the_instant_and_the_rest_gives_the_same_result() -> None:
    whole = abc().run().to_json()
    sim = abc()
    sim.run_until(5 * H)
    assert sim.submitted == 3
    assert [j.spec.id for j in sim.state.programs[0].pending.values()] == [1, 2]
    sim.run_until(6 * H)
    assert sim.finish().to_json() == whole


@pytest.mark.parametrize("policy", ["fifo", "fifo-backfill", "priority", "drf", "quota"])
def test_reason_hours_are_deterministic_and_in_the_text_report(policy: str) -> None:
    a, b = Simulation(mixed(policy, 3)).run(), Simulation(mixed(policy, 3)).run()
    assert a.to_json() == b.to_json()
    hours = a.programs["train"]["pending_reasons_hours"]
    assert set(hours) <= {r.value for r in Reason}
    assert sum(a.fleet["pending_reasons_hours"].values()) == pytest.approx(
        sum(sum(p["pending_reasons_hours"].values()) for p in a.programs.values()), abs=0.1
    )
    assert "pending job-hours by reason" in comparison({policy: a})


# --- the command ----------------------------------------------------------------------------
@pytest.fixture
def abc_file(tmp_path: Path) -> Path:
    path = tmp_path / "abc.yaml"
    text = f"""
name: abc
start: 2025-01-01
horizon_days: 1
policy: fifo
cost: {{usd_per_gpu_hour: 2.0}}
sites:
  - {{name: dc, power_kw: 1000}}
entities:
  - name: e
    programs:
{ABC}
pools:
{ONE_NODE}
"""
    path.write_text(text)
    return path


def test_explain_a_job_behind_a_blocked_one(abc_file: Path, capsys: Capture) -> None:
    assert main(["explain", str(abc_file), "--job", "2", "--at", "+5h"]) == 0
    out = capsys.readouterr().out
    assert "job 2 at 2025-01-01T05:00:00: pending" in out
    assert "blocked-behind-earlier-job (since 2025-01-01T03:00:00)" in out
    assert Reason.BEHIND.sentence in out
    assert "queue position 2 of 2" in out
    assert "job 1: 8 GPUs, 2025-01-01T02:00:00, not-enough-ready-capacity" in out


def test_explain_states_as_json(abc_file: Path, capsys: Capture) -> None:
    assert main(["explain", str(abc_file), "--job", "1", "--at", "2025-01-01T10:30", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["state"] == "running" and d["started"] == "2025-01-01T10:00:00"
    assert main(["explain", str(abc_file), "--job", "0", "--at", "+12h", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["state"], d["finished"]) == ("done", "2025-01-01T10:00:00")
    assert main(["explain", str(abc_file), "--job", "2", "--at", "+3h", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["reason"], d["program_queue_position"]) == ("blocked-behind-earlier-job", 2)


def test_explain_a_programs_queue(abc_file: Path, capsys: Capture) -> None:
    assert main(["explain", str(abc_file), "--program", "p", "--at", "+4h"]) == 0
    out = capsys.readouterr().out
    assert "program p at 2025-01-01T04:00:00: 2 pending, 1 running" in out
    assert "1 not-enough-ready-capacity" in out and "1 blocked-behind-earlier-job" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--job", "3", "--at", "+5h"], "--job 3: no such job submitted by"),
        (["--job", "2", "--at", "+2h"], "ids 0 to 1 were"),
        (["--job", "0", "--at", "tomorrow"], "not a time"),
        (["--job", "0", "--at", "+25h"], "outside the scenario"),
        (["--job", "0", "--at", "2024-12-31"], "outside the scenario"),
        (["--program", "nope", "--at", "+1h"], "no such program"),
    ],
    ids=["unknown-job", "not-yet-submitted", "bad-time", "after-the-end", "before-start", "prog"],
)
def test_explain_bad_input_exits_2(
    abc_file: Path, capsys: Capture, argv: list[str], message: str
) -> None:
    assert main(["explain", str(abc_file), *argv]) == 2
    assert message in capsys.readouterr().err
