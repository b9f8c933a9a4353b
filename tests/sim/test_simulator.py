"""The simulator: conservation, determinism, capacity events, each against a hand calc."""

from __future__ import annotations

import pytest

from gpufleet.domain.ids import GpuTypeName, JobId, ProgramId
from gpufleet.policies.registry import available_policies
from gpufleet.sim.simulator import Simulation
from tests.support.runs import checked_run, checked_run_result
from tests.support.scenarios import mixed, one_site

POLICIES = [n for n, _, _ in available_policies()]
H = 3600.0


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_conservation_holds_after_every_cycle(policy: str, seed: int) -> None:
    """No GPU used twice, none used before it is ready, quota usage equals what runs, no
    job split across sites or on a type it does not allow; every finished job got its
    whole work (kept progress over all its runs equals its work, to the microsecond)."""
    sim = Simulation(mixed(policy, seed))
    shortfall = checked_run(sim)
    assert shortfall, "the scenario should finish jobs"
    assert max(abs(x) for x in shortfall.values()) < 1e-6


def test_the_mixed_scenario_exercises_preemption_and_capacity_changes() -> None:
    res = Simulation(mixed("priority", 1)).run()
    assert res.summary["jobs_preempted"] > 0
    assert res.entities["beta"]["stranded_gpu_hours"] > 0
    assert res.entities["gamma"]["gpu_hours_owned"] > res.entities["gamma"]["gpu_hours_ready"] - 1


@pytest.mark.parametrize("policy", POLICIES)
def test_same_seed_same_result_byte_for_byte(policy: str) -> None:
    a = Simulation(mixed(policy, 11)).run().to_json()
    b = Simulation(mixed(policy, 11)).run().to_json()
    assert a == b
    assert a != Simulation(mixed(policy, 12)).run().to_json()


JOB = """      - name: p
        quotas: {{H100-SXM: {{nominal: {nominal}}}}}
        workload:
          jobs: [{{submit: 2025-01-01, gpus: {gpus}, duration_hours: {hours},
                   gpu_types: [{gtype}], checkpoint_hours: 1}}]
        milestone: {{name: m, gpu_hours: {ms}, due: 2025-01-02}}"""


def job(
    gpus: int = 8, hours: float = 24, nominal: int = 16, ms: float = 100, gtype: str = "H100-SXM"
) -> str:
    return JOB.format(gpus=gpus, hours=hours, nominal=nominal, ms=ms, gtype=gtype)


def test_a_site_not_ready_strands_its_gpus_and_delays_jobs() -> None:
    # 16 GPUs delivered at t=0 to a site ready on Jan 4 (72 h later):
    # stranded = 16 GPUs x 72 h = 1,152 GPU-hours = 48 GPU-days; the job waits 72 h.
    sc = one_site(
        site="  - {name: dc, power_kw: 1000, ready: [{date: 2025-01-04, power_kw: 1000}]}",
        programs=job(hours=1),
    )
    res = Simulation(sc).run()
    assert res.entities["e"]["stranded_gpu_hours"] == 1152.0
    assert res.fleet["stranded_gpu_days"] == 48.0
    assert res.summary["queueing_delay_s"]["max"] == 72 * H
    # cost: 16 GPUs owned for the 5-day horizon at $2 = 16 x 120 x 2 = $3,840, of which the
    # stranded part is 1,152 x 2 = $2,304
    assert res.entities["e"]["cost_usd"] == 3840.0
    assert res.entities["e"]["stranded_cost_usd"] == 2304.0


def test_partial_power_strands_only_the_nodes_beyond_it() -> None:
    # Each 8-GPU H100 node draws 8 x 1,275 W x PUE 1.3 = 13.26 kW. 20 kW powers one node
    # of two: 8 GPUs stranded for the whole 5 days = 8 x 120 = 960 GPU-hours.
    sc = one_site(site="  - {name: dc, power_kw: 20, pue: 1.3}", programs=job(hours=1))
    res = Simulation(sc).run()
    assert res.fleet["stranded_gpu_hours"] == 960.0
    assert res.summary["jobs_finished"] == 1


def test_gpus_arrive_on_their_delivery_date() -> None:
    # Pool delivered Jan 3 (48 h in): the 8-GPU job submitted at t=0 starts at 48 h.
    sc = one_site(
        pools="  - {name: pool, site: dc, gpu_type: H100-SXM, nodes: 1, owner: e, "
        "delivered: 2025-01-03}",
        programs=job(hours=1),
    )
    res = Simulation(sc).run()
    assert res.summary["queueing_delay_s"]["max"] == 48 * H
    assert res.entities["e"]["gpu_hours_owned"] == 8 * 72.0


def test_milestone_date_is_exact_at_reference_and_slower_speed() -> None:
    # One 8-GPU job from t=0: 100 GPU-hours of work are done at 100 / 8 = 12.5 h on H100.
    res = Simulation(one_site(programs=job())).run()
    assert res.programs["p"]["milestone"]["reached"] == "2025-01-01T12:30:00"
    # On A100 (throughput 1/3) the same work rate is 8/3 GPU-h per hour: 37.5 h, i.e.
    # Jan 2 13:30, 13.5 h after the Jan 2 due date.
    a100 = one_site(
        pools="  - {name: pool, site: dc, gpu_type: A100-80GB, nodes: 1, owner: e}",
        programs=job(gtype="A100-80GB"),
    )
    ms = Simulation(a100).run().programs["p"]["milestone"]
    assert ms["reached"] == "2025-01-02T13:30:00"
    assert ms["delay_days"] == round(13.5 / 24, 2)


def test_quota_change_in_the_timeline_admits_the_waiting_job() -> None:
    # nominal 0 until Jan 2: under the quota policy the job waits exactly 24 h.
    sc = one_site(
        policy="quota",
        programs=job(nominal=0, hours=1),
        extra="timeline:\n  - quota: {at: 2025-01-02, program: p, gpu_type: H100-SXM, nominal: 8}",
    )
    res = Simulation(sc).run()
    assert res.summary["queueing_delay_s"]["max"] == 24 * H


LEASE = """
sites: [{name: dc, power_kw: 1000}]
"""


def test_a_lease_moves_nodes_and_its_end_preempts_the_borrower() -> None:
    # x leases its 8 GPUs to y from Jan 2 to Jan 3. y's 48-hour job (checkpoint 1 h) runs
    # from 24 h to 48 h, is preempted when the lease ends, keeps 24 h of work
    # (24 checkpoints) and waits; y's work done = 8 GPUs x 24 h = 192 GPU-hours.
    from gpufleet.inputs.scenario.load import load_scenario_text

    text = """
name: lease
start: 2025-01-01
horizon_days: 4
policy: fifo
sites: [{name: dc, power_kw: 1000}]
entities:
  - {name: x, programs: [{name: px, quotas: {H100-SXM: {nominal: 8}}}]}
  - name: y
    programs:
      - name: py
        workload:
          jobs: [{submit: 2025-01-01, gpus: 8, duration_hours: 48, gpu_types: [H100-SXM],
                  checkpoint_hours: 1}]
pools: [{name: pool, site: dc, gpu_type: H100-SXM, nodes: 1, owner: x}]
timeline:
  - transfer: {pool: pool, gpus: 8, to: y, start: 2025-01-02, end: 2025-01-03,
               price_usd: 1000}
"""
    res = Simulation(load_scenario_text(text, "lease.yaml")).run()
    py = res.programs["py"]
    assert py["work_done_gpu_hours"] == 192.0
    assert py["jobs_pending_at_end"] == 1
    assert res.summary["jobs_preempted"] == 1
    assert res.entities["y"]["gpu_hours_owned"] == 8 * 24.0
    assert res.entities["x"]["gpu_hours_owned"] == 8 * (96 - 24.0)
    # the quota moved with the nodes and came back: x entitled 8 x (96 - 24) GPU-hours
    assert res.programs["px"]["gpu_hours_entitled"] == 8 * 72.0


def test_jain_index_of_two_programs_one_starved_is_one_half() -> None:
    # Two programs entitled 8 GPUs each; only a's jobs exist: x = [r_a/e_a, 0] ->
    # J = (x)^2 / (2 x^2) = 1/2.
    from gpufleet.sim.result import jain

    assert jain([0.7, 0.0]) == 0.5
    assert jain([0.5, 0.5, 0.5]) == 1.0
    assert jain([]) == 1.0


RELOCATE = """
name: relocate
start: 2025-01-01
horizon_days: 10
sites:
  - {{name: home, power_kw: 1000, pue: 1.0}}
  - {{name: far, power_kw: 15, pue: 2.0}}
entities:
  - {{name: e1, programs: [{{name: p1, quotas: {{H100-SXM: {{nominal: 8}}}}}}]}}
  - {{name: e2, programs: [{{name: p2, quotas: {{H100-SXM: {{nominal: 8}}}}}}]}}
pools: [{{name: pool1, site: home, gpu_type: H100-SXM, nodes: 1, owner: e1,
         delivered: 2025-01-03}}]
timeline:
  - transfer: {{pool: pool1, gpus: 8, to: e2, start: {start}, to_site: far}}
"""


@pytest.mark.parametrize(
    ("start", "stranded_gpu_hours"),
    [
        # moved before delivery: it arrives at 'far' on Jan 3 and never fits there:
        # 8 GPUs x 1,275 W x PUE 2.0 = 20.4 kW > 15 kW -> stranded 8 x (10 - 2) x 24 = 1,536
        pytest.param("2025-01-02", 1536.0, id="relocated-before-delivery-uses-the-new-pue"),
        # moved after delivery on Jan 4: stranded from then, 8 x 7 x 24 = 1,344
        pytest.param("2025-01-04", 1344.0, id="relocated-after-delivery-uses-the-new-pue"),
    ],
)
def test_relocated_nodes_draw_power_at_their_new_sites_pue(
    start: str, stranded_gpu_hours: float
) -> None:
    from gpufleet.inputs.scenario.load import load_scenario_text

    sc = load_scenario_text(RELOCATE.format(start=start), "relocate.yaml")
    res = Simulation(sc).run()
    assert res.fleet["stranded_gpu_hours"] == stranded_gpu_hours


def test_jobs_inherit_their_programs_priority_unless_they_set_one() -> None:
    # Program priority 7: the generated job gets 7; the listed job sets 2 explicitly.
    sc = one_site(
        programs="""      - name: p
        priority: 7
        quotas: {H100-SXM: {nominal: 16}}
        workload:
          generator: {jobs_per_day: 24, gpus: 1, duration_hours: 1, end: 2025-01-02}
          jobs: [{name: listed, submit: 2025-01-01, gpus: 1, duration_hours: 1,
                  priority: 2, gpu_types: [H100-SXM]}]"""
    )
    drafts = list(sc.workloads[0][1](1))
    assert len(drafts) > 10
    assert {d.priority for d in drafts if d.name != "listed"} == {7}
    assert [d.priority for d in drafts if d.name == "listed"] == [2]


def test_itemized_costs_match_a_hand_calculation() -> None:
    # One node of 8 H100 worth $240,000 over a 4-year life, at a site with PUE 1.25 and
    # $0.10/kWh that is ready only from day 2 (of 5); operations $0.05/GPU-h; idle draw 30%.
    # capex:  240,000 x 5 / (4 x 365.25) = $821.36 (owned all 5 days)
    # idle:   8 x 700 W x 0.3 x 1.25 = 2,100 W for the 72 powered hours = 151.2 kWh = $15.12
    # busy:   one 8-GPU 24-h job adds 8 x 700 x 0.7 x 1.25 = 4,900 W x 24 h = $11.76
    # ops:    8 x 120 h x 0.05 = $48;  total 821.36 + 15.12 + 11.76 + 48 = $896.24
    # stranded (48 h): capex 240,000 x 2 / 1,461 = $328.54 + ops 8 x 48 x 0.05 = $19.20
    #         = $347.74 over 8 x 2 = 16 GPU-days: $21.73 per stranded GPU-day
    sc = one_site(
        site="  - {name: dc, power_kw: 1000, pue: 1.25, electricity_usd_per_kwh: 0.10,\n"
        "     ready: [{date: 2025-01-03, power_kw: 1000}]}",
        pools="  - {name: pool, site: dc, gpu_type: H100-SXM, nodes: 1, owner: e,\n"
        "     value_usd: 240000}",
        programs=job(hours=24),
        extra="",
    )
    from dataclasses import replace

    from gpufleet.domain.scenario import CostModel

    sc = replace(sc, cost=CostModel(None, "", 4.0, 0.05, 0.3))
    e = Simulation(sc).run().entities["e"]
    assert e["capex_usd"] == 821
    assert e["power_usd"] == 27  # 15.12 + 11.76 = 26.88
    assert e["ops_usd"] == 48
    assert e["cost_usd"] == 896
    assert e["stranded_cost_usd"] == 348
    assert e["stranded_cost_usd_per_gpu_day"] == 21.73


FAILING = """
name: failing
start: 2025-01-01
horizon_days: 30
seed: 3
policy: fifo
failures: {{node_mtbf_hours: {mtbf}, repair_hours: 12}}
sites: [{{name: dc, power_kw: 10000}}]
entities:
  - name: e
    programs:
      - name: p
        quotas: {{H100-SXM: {{nominal: 64}}}}
        workload:
          generator: {{jobs_per_day: 40, gpus: {{choices: [1, 8, 16]}},
                       duration_hours: {{lognormal: {{median: 6, sigma: 0.5}}}},
                       checkpoint_hours: 2}}
pools: [{{name: pool, site: dc, gpu_type: H100-SXM, nodes: 8, owner: e}}]
"""


def test_node_failures_preempt_jobs_and_take_nodes_out_until_repaired() -> None:
    from gpufleet.inputs.scenario.load import load_scenario_text

    # 8 nodes with a 200-hour MTBF over 720 hours: about 8 x 720 / 200 = 28.8 failures
    # expected (Poisson, sd ~5.4); each keeps 8 GPUs down for 12 h: ~28.8 x 8 x 12 = 2,765
    # down GPU-hours.
    sc = load_scenario_text(FAILING.format(mtbf=200), "f.yaml")
    sim = Simulation(sc)
    shortfall, res = checked_run_result(sim)
    assert 15 <= res.summary["node_failures"] <= 45
    # each failure: 8 GPUs x 12 h = 96 down GPU-hours, the last repair possibly cut short
    # by the horizon
    n = res.summary["node_failures"]
    assert (n - 1) * 96 <= res.fleet["down_gpu_hours"] <= n * 96
    assert res.summary["jobs_preempted"] > 0
    assert max(abs(x) for x in shortfall.values()) < 1e-6  # finished jobs got all their work


def test_failures_come_from_their_own_stream_so_the_workload_is_unchanged() -> None:
    from gpufleet.inputs.scenario.load import load_scenario_text

    rare = Simulation(load_scenario_text(FAILING.format(mtbf=1e9), "f.yaml")).run()
    often = Simulation(load_scenario_text(FAILING.format(mtbf=100), "f.yaml")).run()
    assert rare.summary["node_failures"] == 0
    assert rare.summary["jobs_submitted"] == often.summary["jobs_submitted"]
    assert often.summary["node_failures"] > 0
    assert often.summary["queueing_delay_s"]["mean"] >= rare.summary["queueing_delay_s"]["mean"]


def test_a_drafts_fields_are_the_specs_after_id_and_program_in_order() -> None:
    # spec_of builds a JobSpec as (id, program) + draft, by position: a field added to or
    # moved in one of the two named tuples and not the other would shift every field after it
    from gpufleet.domain.jobs import JobDraft, JobSpec, spec_of

    assert JobSpec._fields[:2] == ("id", "program")
    assert JobSpec._fields[2:] == JobDraft._fields
    draft = JobDraft(submit_s=5.0, gpus=8, work_s=3600.0, gpu_types=(GpuTypeName("H100"),))
    spec = spec_of(JobId(7), ProgramId("p"), draft)
    assert type(spec) is JobSpec
    assert (spec.id, spec.program, spec.gpus, spec.work_s) == (7, "p", 8, 3600.0)
