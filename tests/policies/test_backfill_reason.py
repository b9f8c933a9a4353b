"""EASY backfill's "held for the reservation" reason: in a cycle, in the pending-reason
hours of a run, and in ``gpufleet explain``; plus the reservation's bookkeeping of
backfilled jobs (sched_config.html, "Backfill": a lower-priority job may start if it does
not delay the expected start of the higher-priority one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpufleet.cli.main import main
from gpufleet.domain.reasons import Reason
from gpufleet.policies.slurm import SlurmBackfillEasy
from gpufleet.sim.simulator import Simulation
from gpufleet.state.jobs import JobState
from tests.support.scenarios import one_site
from tests.support.slurm_harness import SlurmHarness

Capture = pytest.CaptureFixture[str]
H = 3600.0


def qos_only() -> SlurmBackfillEasy:
    """EASY backfill ordered by job priority alone (QOS weight only)."""
    return SlurmBackfillEasy(
        weight_age=0.0,
        weight_fairshare=0.0,
        weight_job_size=0.0,
        weight_partition=0.0,
        weight_qos=1000.0,
    )


# --- in one cycle -------------------------------------------------------------------------
def test_a_job_that_would_delay_the_reserved_start_is_held_and_the_top_job_shows_it() -> None:
    # One 8-GPU node. R (4 GPUs, limit 100 s) runs; J (8 GPUs) cannot start: its shadow time
    # is R's end, T = 0 + 100 = 100. K (4 GPUs, limit 200) fits now in the 4 free GPUs but
    # would hold them until 200 > T, when J needs all 8: K is held for the reservation.
    pol = qos_only()
    s = SlurmHarness(pol, nodes=[8])
    s.submit("a", 4, work_s=100, limit_s=100, priority=50)
    s.h.cycle(0)
    top = s.submit("a", 8, priority=10, work_s=100, limit_s=100)
    k = s.submit("a", 4, priority=1, work_s=40, limit_s=200)
    d = s.h.cycle(0)
    assert d.blocked == [(top, Reason.CAPACITY), (k, Reason.HELD_FOR_BACKFILL)]
    assert (top.reason, k.reason) == (Reason.CAPACITY, Reason.HELD_FOR_BACKFILL)
    assert pol.reserved_start_s(top) == 100.0
    assert pol.reserved_start_s(k) is None
    assert "reserved start" in Reason.HELD_FOR_BACKFILL.sentence


def test_a_job_that_does_not_fit_now_keeps_its_capacity_reason() -> None:
    # Same start, but K wants 6 GPUs and only 4 are free: not held, short of capacity.
    s = SlurmHarness(qos_only(), nodes=[8])
    s.submit("a", 4, work_s=100, limit_s=100, priority=50)
    s.h.cycle(0)
    s.submit("a", 8, priority=10, limit_s=100)
    k = s.submit("a", 6, priority=1, work_s=40, limit_s=200)
    s.h.cycle(0)
    assert k.reason == Reason.CAPACITY


def test_the_reservation_passes_to_the_next_top_job_once_its_job_starts() -> None:
    # As above; at 100 R ends and J starts (limit 100: until 200). K is now the top job and
    # cannot start: it is reserved to start at J's end, 100 + 100 = 200.
    pol = qos_only()
    s = SlurmHarness(pol, nodes=[8])
    s.submit("a", 4, work_s=100, limit_s=100, priority=50)
    s.h.cycle(0)
    top = s.submit("a", 8, priority=10, work_s=100, limit_s=100)
    k = s.submit("a", 4, priority=1, work_s=40, limit_s=200)
    s.h.cycle(0)
    assert s.advance() == 100.0
    assert top.state == JobState.RUNNING
    assert pol.reservations == {"c": (k.spec.id, 200.0)}
    assert (pol.reserved_start_s(top), k.reason) == (None, Reason.CAPACITY)


def test_jobs_backfilled_past_the_shadow_time_are_counted_once() -> None:
    # Four 4-GPU nodes. R0 and R1 hold nodes 0 and 1 until T = 100; J needs 10 GPUs (more
    # than a node: any 10 of the group), 8 are free now, 16 at T. K1, K2, K3 (2 GPUs each,
    # limit 500, past T) go best-fit to node 2, node 2, node 3. J at T still finds
    # 16 - 3 x 2 = 10 >= 10 GPUs, so all three start (a bookkeeping that counted each
    # started K twice would see 16 - 2 - 4 - 6 = 4 after K2 plus K3's 2 and hold K3).
    s = SlurmHarness(qos_only(), nodes=[4, 4, 4, 4])
    for _ in range(2):
        s.submit("a", 4, work_s=100, limit_s=100, priority=50)
        s.h.cycle(0)
    top = s.submit("a", 10, priority=10, work_s=100, limit_s=100)
    ks = [s.submit("a", 2, priority=3 - i, work_s=500, limit_s=500) for i in range(3)]
    s.h.cycle(0)
    assert [k.state for k in ks] == [JobState.RUNNING] * 3
    assert s.advance() == 100.0
    assert top.state == JobState.RUNNING and top.start_s == 100.0


def test_a_job_ending_by_the_shadow_time_gives_its_gpus_back_to_the_reservation() -> None:
    # Three 4-GPU nodes. R holds node 0 until T = 100; J needs 10 GPUs (any 10 of the
    # group): 8 free now, 12 at T. K1 (2 GPUs, limit 50) goes best-fit to node 1 and is
    # gone by T, so J still finds 12 at T. K2 (2 GPUs, limit 500, past T) takes node 1's
    # other 2: J finds 12 - 2 = 10 >= 10 at T, so K2 starts too (had K1's GPUs been
    # counted as still taken at T, J would see 8 and K2 would be held). J starts at 100.
    s = SlurmHarness(qos_only(), nodes=[4, 4, 4])
    s.submit("a", 4, work_s=100, limit_s=100, priority=50)
    s.h.cycle(0)
    top = s.submit("a", 10, priority=10, work_s=100, limit_s=100)
    k1 = s.submit("a", 2, priority=2, work_s=50, limit_s=50)
    k2 = s.submit("a", 2, priority=1, work_s=500, limit_s=500)
    s.h.cycle(0)
    assert (k1.state, k2.state) == (JobState.RUNNING, JobState.RUNNING)
    while top.state == JobState.PENDING and s.advance() is not None:
        pass
    assert top.start_s == 100.0


# --- in a run and in explain --------------------------------------------------------------
# One 8-GPU node, slurm-backfill. A (4 GPUs, 10 h, limit 10 h) runs from 0. B (8 GPUs,
# 1 h) arrives at 1 h: not enough capacity, reserved to start at A's end, T = 10 h.
# C (4 GPUs, 2 h, limit 20 h) arrives at 2 h: it fits in the 4 free GPUs, but runs past T
# on GPUs B needs: held 2-10 h. At 10 h B starts (10-11 h) and C waits for capacity
# 10-11 h, then runs 11-13 h. Hours: capacity B 1-10 h = 9 plus C 10-11 h = 1 -> 10;
# held: C 2-10 h = 8.
HELD = """      - name: p
        quotas: {H100-SXM: {nominal: 8}}
        workload:
          jobs:
            - {submit: 2025-01-01T00:00:00, gpus: 4, duration_hours: 10, time_limit_hours: 10}
            - {submit: 2025-01-01T01:00:00, gpus: 8, duration_hours: 1, time_limit_hours: 1}
            - {submit: 2025-01-01T02:00:00, gpus: 4, duration_hours: 2, time_limit_hours: 20}"""
ONE_NODE = "  - {name: pool, site: dc, gpu_type: H100-SXM, nodes: 1, owner: e}"


def test_held_hours_are_counted_per_program_and_fleet() -> None:
    sc = one_site(policy="slurm-backfill", pools=ONE_NODE, programs=HELD, horizon_days=1)
    res = Simulation(sc).run()
    hours = {"not-enough-ready-capacity": 10.0, "held-for-backfill-reservation": 8.0}
    assert res.programs["p"]["pending_reasons_hours"] == hours
    assert res.fleet["pending_reasons_hours"] == hours


@pytest.fixture
def held_file(tmp_path: Path) -> Path:
    path = tmp_path / "held.yaml"
    path.write_text(
        f"""
name: held
start: 2025-01-01
horizon_days: 1
policy: slurm-backfill
sites:
  - {{name: dc, power_kw: 1000}}
entities:
  - name: e
    programs:
{HELD}
pools:
{ONE_NODE}
"""
    )
    return path


def test_explain_shows_the_held_job_and_the_reservation_it_waits_for(
    held_file: Path, capsys: Capture
) -> None:
    assert main(["explain", str(held_file), "--job", "2", "--at", "+5h"]) == 0
    out = capsys.readouterr().out
    assert "reason: held-for-backfill-reservation (since 2025-01-01T02:00:00)" in out
    assert Reason.HELD_FOR_BACKFILL.sentence in out
    assert "held for job 1, reserved to start at 2025-01-01T10:00:00" in out
    assert main(["explain", str(held_file), "--job", "1", "--at", "+5h", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["reason"], d["reserved_start"]) == (
        "not-enough-ready-capacity",
        "2025-01-01T10:00:00",
    )
    assert main(["explain", str(held_file), "--program", "p", "--at", "+5h"]) == 0
    out = capsys.readouterr().out
    assert "1 held-for-backfill-reservation" in out and "1 not-enough-ready-capacity" in out
