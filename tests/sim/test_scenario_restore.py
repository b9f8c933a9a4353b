"""`restore_overhead_hours` in scenarios: a resumed job reloads its checkpoint first; left
out, scenario jobs behave as before (no restore)."""

from __future__ import annotations

from itertools import islice
from typing import Any

import pytest

from gpufleet.errors import InputError
from gpufleet.inputs.scenario.load import load_scenario_text
from gpufleet.sim.simulator import Simulation

H = 3600.0

SCENARIO = """
name: restore
start: 2025-01-01
horizon_days: 2
policy: priority
sites: [{{name: dc, power_kw: 1000}}]
entities:
  - name: e
    programs:
      - name: p
        quotas: {{H100-SXM: {{nominal: 8}}}}
        workload:
          jobs:
            - {{name: low, submit: 2025-01-01, gpus: 8, duration_hours: 10, priority: 0,
               gpu_types: [H100-SXM], checkpoint_hours: 1{restore}}}
            - {{name: high, submit: "2025-01-01T02:30:00", gpus: 8, duration_hours: 1,
               priority: 5, gpu_types: [H100-SXM]}}
pools: [{{name: pool, site: dc, gpu_type: H100-SXM, nodes: 1, owner: e}}]
"""


def run(restore: str) -> dict[str, Any]:
    res = Simulation(load_scenario_text(SCENARIO.format(restore=restore), "r.yaml")).run()
    return {"summary": res.summary, "jct_max": res.summary["jct_s"]["max"]}


def test_a_resumed_scenario_job_spends_its_restore_overhead_first() -> None:
    # low is preempted at 2.5 h keeping 2 h (lost 0.5 h x 8 = 4 GPU-h); high runs to 3.5 h;
    # low restores 0.5 h (0.5 x 8 = 4 GPU-h) then runs 8 h: it ends at 12 h, its JCT
    r = run(", restore_overhead_hours: 0.5")
    assert r["summary"]["work_lost_gpu_hours"] == 4.0
    assert r["summary"]["restore_gpu_hours"] == 4.0
    assert r["jct_max"] == 12 * H


def test_a_scenario_that_sets_no_restore_resumes_at_once_as_before() -> None:
    # ends at 3.5 h + 8 h = 11.5 h; nothing spent restoring
    r = run("")
    assert r["summary"]["restore_gpu_hours"] == 0.0
    assert r["jct_max"] == 11.5 * H


def test_a_negative_restore_overhead_is_refused_naming_the_field() -> None:
    with pytest.raises(InputError, match="restore_overhead_hours"):
        load_scenario_text(SCENARIO.format(restore=", restore_overhead_hours: -1"), "r.yaml")


GENERATED = """
name: gen
start: 2025-01-01
horizon_days: 2
sites: [{{name: dc, power_kw: 1000}}]
entities:
  - name: e
    programs:
      - name: p
        workload:
          generators:
            - {{jobs_per_day: 24, gpus: 8, duration_hours: 2, gpu_types: [H100-SXM],
               checkpoint_hours: 1,
               restore_overhead_hours: 0.25{topology}}}
pools: [{{name: pool, site: dc, gpu_type: H100-SXM, nodes: 1, owner: e}}]
"""


@pytest.mark.parametrize("topology", ["", ", topology: {required: rack}"])
def test_generated_jobs_carry_the_restore_overhead_in_seconds(topology: str) -> None:
    # 0.25 h = 900 s on every drawn job, with or without a topology constraint
    sc = load_scenario_text(GENERATED.format(topology=topology), "g.yaml")
    drafts = list(islice(sc.workloads[0][1](7), 5))
    assert [d.restore_s for d in drafts] == [900.0] * 5
    assert all(d.checkpoint_s == 3600.0 for d in drafts)
    assert all(d.topology_required == (None if not topology else "rack") for d in drafts)
