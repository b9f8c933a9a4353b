"""Synthetic scenarios of any size, for benchmarks and scaling studies.

One site of H100 nodes (8 GPUs each), one entity with ``programs`` programs sharing the
fleet in one cohort, each with an equal nominal quota. Jobs follow a Philly-like shape:
mostly single-GPU, a tail of multi-node gangs (Jeon et al., ATC '19, report most Philly jobs
use one GPU), log-normal durations; the arrival rate is set so that offered load is
``load`` x capacity.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from gpufleet.domain.changes import QuotaChange, Transfer
from gpufleet.domain.fleet import NodePool, Site
from gpufleet.domain.gpus import default_catalog
from gpufleet.domain.ids import CohortId, EntityId, GpuTypeName, PoolId, ProgramId, SiteId
from gpufleet.domain.org import Entity, Program, Quota
from gpufleet.domain.scenario import CostModel, PolicySpec, Scenario
from gpufleet.inputs.traces.generator import Generator, ProgramWorkload

GPU_CHOICES = (1, 2, 4, 8, 16, 32, 64)
GPU_WEIGHTS = (0.60, 0.10, 0.10, 0.12, 0.05, 0.02, 0.01)
MEDIAN_H, SIGMA = 1.0, 1.5
MEAN_GPUS = sum(g * w for g, w in zip(GPU_CHOICES, GPU_WEIGHTS, strict=True))
MEAN_HOURS = 3.080216848918031  # exp(ln(1) + 1.5^2 / 2), lognormal mean (untruncated)


def synthetic_scenario(
    jobs: int, gpus: int, policy: str = "fifo", programs: int = 16, load: float = 0.9, seed: int = 1
) -> Scenario:
    h100 = GpuTypeName("H100-SXM")
    start = datetime(2025, 1, 1)
    jobs_per_day = load * gpus * 24 / (MEAN_GPUS * MEAN_HOURS)
    days = jobs / jobs_per_day
    arrive_s = days * 86_400
    end = start + timedelta(seconds=arrive_s * 1.25)
    per_program = jobs_per_day / programs
    quota = gpus // programs
    progs = []
    workloads = []
    for i in range(programs):
        name = ProgramId(f"p{i:02d}")
        progs.append(Program(name, EntityId("org"), ((h100, Quota(quota)),)))
        gen = Generator(
            per_program,
            GPU_CHOICES,
            GPU_WEIGHTS,
            MEDIAN_H,
            SIGMA,
            (),
            (),
            None,
            24 * 14.0,
            0.0,
            arrive_s,
            (h100,),
            checkpoint_s=3600.0,
        )
        workloads.append((name, ProgramWorkload((gen,))))
    node_count = gpus // 8
    kw = node_count * 8 * 1.275 * 1.2 + 1
    return Scenario(
        name=f"synthetic-{jobs}-jobs-{gpus}-gpus",
        start=start,
        end=end,
        seed=seed,
        catalog=default_catalog(),
        sites=(Site(SiteId("dc"), kw, 1.2),),
        pools=(
            NodePool(
                PoolId("h100"),
                SiteId("dc"),
                h100,
                8,
                node_count,
                EntityId("org"),
                start,
                node_count * 8 * 30_000.0,
            ),
        ),
        entities=(Entity(EntityId("org"), CohortId("org"), tuple(progs)),),
        transfers=tuple[Transfer, ...](),
        quota_changes=tuple[QuotaChange, ...](),
        policy=PolicySpec(policy),
        cost=CostModel(2.0),
        workloads=tuple(workloads),
    )
