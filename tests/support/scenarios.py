"""Small scenario texts for simulator tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from gpufleet.domain.fleet import NodePool
from gpufleet.domain.ids import GpuTypeName, PoolId
from gpufleet.domain.jobs import JobDraft
from gpufleet.domain.scenario import FailureModel, Scenario, WorkloadFactory
from gpufleet.inputs.scenario.load import load_scenario_text
from gpufleet.inputs.scenario.synthetic import synthetic_scenario

MIXED = """
name: mixed
start: 2025-01-01
horizon_days: 6
seed: {seed}
policy: {policy}
sites:
  - {{name: east, power_kw: 1000, pue: 1.25}}
  - name: west
    power_kw: 1000
    ready: [{{date: 2025-01-03, power_kw: 1000}}]
entities:
  - name: alpha
    cohort: shared
    programs:
      - name: train
        priority: 1
        quotas: {{H100-SXM: {{nominal: 24, borrowing_limit: 16}}, A100-80GB: {{nominal: 8}}}}
        milestone: {{name: m, gpu_hours: 1500, due: 2025-01-04}}
        workload:
          generators:
            - {{jobs_per_day: 30, gpus: {{choices: [1, 2, 4, 8, 16], weights: [3, 2, 2, 2, 1]}},
               duration_hours: {{lognormal: {{median: 2, sigma: 1}}, max: 48}},
               gpu_types: [H100-SXM, A100-80GB], checkpoint_hours: 0.5}}
            - {{jobs_per_day: 4, gpus: 8, duration_hours: 3, priority: 5, preemptible: false}}
      - name: research
        weight: 2
        quotas: {{H100-SXM: {{nominal: 8, lending_limit: 4}}}}
        workload:
          generator: {{jobs_per_day: 40, gpus: {{choices: [1, 2, 4]}},
                       duration_hours: {{choices: [0.5, 1, 4]}}, checkpoint_hours: 1}}
  - name: beta
    cohort: shared
    programs:
      - name: serve
        quotas: {{H100-SXM: {{nominal: 16}}}}
        workload:
          generator: {{jobs_per_day: 20, gpus: {{choices: [2, 4, 8]}},
                       duration_hours: {{lognormal: {{median: 1, sigma: 0.5}}}}}}
  - name: gamma
    programs:
      - name: solo
        quotas: {{H100-SXM: {{nominal: 8}}}}
        workload:
          generator: {{jobs_per_day: 10, gpus: 4, duration_hours: 2}}
pools:
  - {{name: e-h100, site: east, gpu_type: H100-SXM, nodes: 4, owner: alpha}}
  - {{name: e-a100, site: east, gpu_type: A100-80GB, nodes: 1, owner: alpha}}
  - {{name: w-h100, site: west, gpu_type: H100-SXM, nodes: 2, owner: beta,
     delivered: 2025-01-02}}
  - {{name: g-h100, site: east, gpu_type: H100-SXM, nodes: 1, owner: gamma}}
timeline:
  - transfer: {{pool: e-h100, gpus: 8, from_entity: alpha, to: gamma, from_program: train,
               start: 2025-01-02, end: 2025-01-04}}
  - quota: {{at: 2025-01-05, program: serve, gpu_type: H100-SXM, nominal: 8}}
"""


def mixed(policy: str = "quota", seed: int = 7) -> Scenario:
    return load_scenario_text(MIXED.format(policy=policy, seed=seed), "mixed.yaml")


def one_site(
    extra: str = "",
    policy: str = "fifo",
    pools: str = "",
    site: str = "",
    horizon_days: float = 5,
    programs: str = "",
) -> Scenario:
    """One entity, one program 'p', one site 'dc' (override any block)."""
    text = f"""
name: t
start: 2025-01-01
horizon_days: {horizon_days}
policy: {policy}
cost: {{usd_per_gpu_hour: 2.0}}
sites:
{site or "  - {name: dc, power_kw: 1000}"}
entities:
  - name: e
    programs:
{programs or "      - {name: p, quotas: {H100-SXM: {nominal: 16}}}"}
pools:
{pools or "  - {name: pool, site: dc, gpu_type: H100-SXM, nodes: 2, owner: e}"}
{extra}
"""
    return load_scenario_text(text, "t.yaml")


# Tiresias's option sets the kept-state oracles run the mixed scenario under: the
# defaults, starvation promotion, three queues (jobs cross two thresholds while running)
TIRESIAS_OPTIONS: dict[str, dict[str, Any]] = {
    "default": {},
    "starve": {"threshold_gpu_hours": 4, "starve_limit": 2.0},
    "3q": {"threshold_gpu_hours": 1, "queues": 3, "threshold_growth": 8},
}


A100, H100 = GpuTypeName("A100-80GB"), GpuTypeName("H100-SXM")


def _limited(factory: WorkloadFactory, first: int) -> WorkloadFactory:
    """Time limits of 1x, 2x or 3x the work (one in five without), a job in four on A100
    only, one in four on either type, three QOS levels (priority 0, 10, 20)."""

    def jobs(seed: int) -> Iterator[JobDraft]:
        for k, draft in enumerate(factory(seed)):
            n = first + k
            limit = None if n % 5 == 0 else draft.work_s * (1 + n % 3)
            types = (A100,) if n % 4 == 0 else (H100, A100) if n % 4 == 1 else draft.gpu_types
            yield draft._replace(time_limit_s=limit, gpu_types=types, priority=10 * (n % 3))

    return jobs


def limited_two_types(seed: int, policy: str) -> Scenario:
    """The planning backfill's oracle workload: 200 jobs with time limits on 48 H100 and
    16 A100 (nodes of 4) at load 1.3, with node failures that requeue jobs. On it each
    seeded run makes 330-400 cycles and 108-150 jobs end."""
    sc = synthetic_scenario(200, 48, policy=policy, load=1.3, seed=seed)
    h100 = sc.pools[0]
    a100 = dataclasses.replace(h100, name=PoolId("a100"), gpu_type=A100, gpus_per_node=4)
    a100 = dataclasses.replace(a100, node_count=4)
    assert isinstance(a100, NodePool)
    workloads = tuple((n, _limited(f, i)) for i, (n, f) in enumerate(sc.workloads))
    return dataclasses.replace(
        sc, pools=(h100, a100), workloads=workloads, failures=FailureModel(100.0, 2.0)
    )
