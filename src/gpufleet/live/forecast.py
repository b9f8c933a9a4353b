"""Forecast from now: the engine's second host (issue 12, item 4).

The live clock reads ``now`` once; the observed Slurm state becomes the run's state at
time 0 (nodes up and down, running jobs on the GPUs they hold, the pending queue with
submit times in the past, the accounts' fair-share usage); the policy that matches the
cluster, with options from its own configuration (:mod:`gpufleet.live.forecast_policy`),
then runs forward in simulated time under the simulator
(:meth:`gpufleet.sim.simulator.Simulation.start_from`). Nothing here reads the wall
clock but :func:`forecast_from_cluster`, through its :class:`~gpufleet.live.clock.Clock`.

Phases of :func:`forecast_from_state`:

1. fleet      nodes -> pools, accounts -> programs
   (:mod:`~gpufleet.live.forecast_fleet`);
2. jobs       running jobs placed on their GPUs, pending jobs queued
   (:mod:`~gpufleet.live.forecast_jobs`: jobs run until their time limit unless told);
3. policy     chosen by the cluster's ``SchedulerType``, weights from its configuration,
   with the cluster's association limits, Slurm's own fair-share factors and its decayed
   usage (:mod:`~gpufleet.live.forecast_setup`);
4. run        the simulator from that state to the horizon;
5. read       each job's start and end, each register program's milestone date.

Output (:class:`Forecast`): each pending job's predicted start and end, each running job's
predicted end, and, where the caller gives the register's milestones, the date each
program's work from now reaches what is left of its milestone (:mod:`gpufleet.live.
forecast_result`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from gpufleet.domain import CohortId, EntityId, GpuCatalog, default_catalog
from gpufleet.domain.org import Milestone
from gpufleet.domain.scenario import CostModel, PolicySpec, Scenario
from gpufleet.errors import InputError
from gpufleet.live.clock import Clock, WallClock
from gpufleet.live.errors import SourceError
from gpufleet.live.forecast_fleet import (
    Fleet,
    Member,
    build_fleet,
    build_members,
    entities_of,
)
from gpufleet.live.forecast_jobs import (
    StartingJobs,
    is_pending,
    is_running,
    starting_jobs,
    wall_clock_catalog,
)
from gpufleet.live.forecast_policy import choose_policy
from gpufleet.live.forecast_result import Forecast, empty_forecast, read_forecast
from gpufleet.live.forecast_setup import slurm_setup
from gpufleet.live.mapping import ClusterMapping
from gpufleet.live.slurm.billing import GpuBilling, PartitionBilling, gpu_billing, read_partitions
from gpufleet.live.slurm.cli import SlurmCliSource
from gpufleet.live.slurm.model import Association, FairShare, SlurmConfig, SlurmJob, SlurmNode
from gpufleet.live.slurm.qos import SlurmQos, read_qos
from gpufleet.policies.base import Policy
from gpufleet.policies.registry import POLICIES, build_policy
from gpufleet.policies.slurm import SlurmMultifactor
from gpufleet.policies.slurm.setup import SlurmSetup
from gpufleet.sim.simulator import Simulation

DEFAULT_HORIZON = timedelta(days=30)

__all__ = ["Forecast", "SlurmState", "forecast_from_cluster", "forecast_from_state"]


@dataclass(frozen=True)
class SlurmState:
    """What a forecast starts from: one Slurm's jobs, nodes, associations, fair-share and
    configuration, read at about the same instant."""

    jobs: tuple[SlurmJob, ...]
    nodes: tuple[SlurmNode, ...]
    associations: tuple[Association, ...]
    fairshare: tuple[FairShare, ...]
    config: SlurmConfig
    partitions: tuple[PartitionBilling, ...] | None = None  # None: not read
    partitions_error: str = "not read"  # why not, where None
    qos: tuple[SlurmQos, ...] = ()  # every QOS (sacctmgr show qos)
    qos_error: str = ""  # why they were not read, where they could not be


def read_slurm_state(source: SlurmCliSource) -> SlurmState:
    """Everything a forecast needs, through Slurm's commands (the jobs last, so that the
    slower sacctmgr is not between them and ``now``). The partitions' billing weights are
    read too; where they cannot be, the forecast says so in its notes."""
    config = source.config()
    associations = source.associations()
    fairshare = source.fairshare()
    partitions: tuple[PartitionBilling, ...] | None = None
    error = ""
    try:
        partitions = read_partitions(source.runner)
    except SourceError as e:
        error = e.render()
    qos, qos_error = _qos(source)
    nodes = source.nodes()
    return SlurmState(
        source.jobs(), nodes, associations, fairshare, config, partitions, error, qos, qos_error
    )


def _qos(source: SlurmCliSource) -> tuple[tuple[SlurmQos, ...], str]:
    try:
        return read_qos(source.runner), ""
    except SourceError as e:
        return (), e.render()


def usage_billing(state: SlurmState) -> GpuBilling:
    """Slurm's usage units per GPU-second from the partitions' TRESBillingWeights over the
    GPUs each partition's nodes hold (:func:`gpufleet.live.slurm.billing.gpu_billing`)."""
    gpus: dict[tuple[str, str | None], int] = {}
    for node in state.nodes:
        for part in node.partitions:
            for g in node.gpus:
                gpus[(part, g.gpu_type)] = gpus.get((part, g.gpu_type), 0) + g.count
    return gpu_billing(state.partitions, gpus, state.config.priority_flags, state.partitions_error)


def forecast_from_cluster(
    source: SlurmCliSource,
    mapping: ClusterMapping,
    clock: Clock | None = None,
    *,
    milestones: Mapping[str, Milestone] | None = None,
    done_gpu_hours: Mapping[str, float] | None = None,
    run_time_s: Mapping[int, float] | None = None,
    horizon: timedelta = DEFAULT_HORIZON,
    usage_per_gpu_s: float | None = None,
    catalog: GpuCatalog | None = None,
    slurm_fairshare: bool = True,
) -> Forecast:
    """Read the cluster now (``clock``: the wall clock unless given) and forecast from it;
    the arguments after ``clock`` are :func:`forecast_from_state`'s."""
    state = read_slurm_state(source)
    now = (clock or WallClock()).now()
    return forecast_from_state(
        state,
        mapping,
        now,
        milestones=milestones,
        done_gpu_hours=done_gpu_hours,
        run_time_s=run_time_s,
        horizon=horizon,
        usage_per_gpu_s=usage_per_gpu_s,
        catalog=catalog,
        slurm_fairshare=slurm_fairshare,
    )


def forecast_from_state(
    state: SlurmState,
    mapping: ClusterMapping,
    now: datetime,
    *,
    milestones: Mapping[str, Milestone] | None = None,
    done_gpu_hours: Mapping[str, float] | None = None,
    run_time_s: Mapping[int, float] | None = None,
    horizon: timedelta = DEFAULT_HORIZON,
    usage_per_gpu_s: float | None = None,
    catalog: GpuCatalog | None = None,
    policy: PolicySpec | None = None,
    slurm_fairshare: bool = True,
) -> Forecast:
    """The forecast from ``state`` as of ``now`` (phases in the module docstring).

    ``milestones``: the register's milestone per program (the mapping's program names);
    ``done_gpu_hours``: work each program has already done towards it (0 if not given).
    ``run_time_s``: run seconds by Slurm job id, where known better than the time limit.
    ``usage_per_gpu_s``: Slurm's usage units per GPU-second (its billing weight of a GPU,
    ``TRESBillingWeights``' ``GRES/gpu``), so that Slurm's recorded usage and the usage
    the run adds are in one unit; None (the default): read from the state's partitions
    (:func:`usage_billing`, whose notes join the forecast's). ``policy``: another policy
    than the cluster's (what-if).
    ``slurm_fairshare``: start from Slurm's own fair-share factors (sshare's), as the
    Slurm policies do until their first recalculation; else they compute them from the
    usage.
    """
    billing = usage_billing(state) if usage_per_gpu_s is None else None
    if billing is not None:
        usage_per_gpu_s = billing.usage_per_gpu_s
    assert usage_per_gpu_s is not None
    _check(now, horizon, usage_per_gpu_s)
    wall0 = time.perf_counter()
    real = catalog or default_catalog()
    horizon_s = horizon.total_seconds()
    choice = choose_policy(state.config, slurm_fairshare)
    spec = policy or choice.spec
    # phase 1: fleet and programs
    accounts = [j.account for j in state.jobs if is_pending(j) or is_running(j)]
    members = build_members(accounts, state.associations, state.fairshare)
    if not members:
        return empty_forecast(now, now + horizon, spec, choice.not_modelled)
    owner = EntityId(members[0].account)
    fleet = build_fleet(state.nodes, mapping, real, state.config.cluster, owner, now)
    scenario = _scenario(state.config.cluster, now, horizon, members, fleet, spec)
    setup, setup_notes = slurm_setup(
        state.config, state.associations, state.fairshare, mapping, usage_per_gpu_s, now, state.qos
    )
    if state.qos_error:
        setup_notes += (f"QOS limits not read: {state.qos_error}",)
    sim = Simulation(scenario, _policy(spec, setup))
    # phase 2: jobs
    jobs = starting_jobs(
        state.jobs, fleet, sim.state.capacity, mapping, now, horizon_s, run_time_s or {}
    )
    # phase 3 (above): the policy with the cluster's limits, fair-share and usage
    # phase 4: run
    run_jobs = sim.start_from(jobs.running, jobs.pending, _down_nodes(fleet, jobs))
    sim.run_until(horizon_s)
    # phase 5: read
    return read_forecast(
        sim,
        run_jobs,
        jobs,
        mapping,
        now,
        real,
        spec,
        choice.not_modelled,
        fleet.notes + setup_notes + _drain_notes(fleet, jobs) + (billing.notes if billing else ()),
        milestones or {},
        done_gpu_hours or {},
        time.perf_counter() - wall0,
    )


def _check(now: datetime, horizon: timedelta, usage_per_gpu_s: float) -> None:
    if now.tzinfo is None:
        raise InputError(f"forecast: now {now.isoformat()} has no timezone (expected UTC)")
    if horizon.total_seconds() <= 0:
        raise InputError(f"forecast: horizon {horizon} must be after now (a positive duration)")
    if not usage_per_gpu_s > 0:
        raise InputError(
            f"forecast: usage_per_gpu_s {usage_per_gpu_s} must be > 0 (Slurm's usage units "
            "per GPU-second, e.g. 10 where partitions bill GRES/gpu=10)"
        )


def _scenario(
    cluster: str,
    now: datetime,
    horizon: timedelta,
    members: tuple[Member, ...],
    fleet: Fleet,
    spec: PolicySpec,
) -> Scenario:
    return Scenario(
        name=f"forecast of {cluster} from {now.isoformat()}",
        start=now,
        end=now + horizon,
        seed=0,
        catalog=wall_clock_catalog(default_catalog()),
        sites=fleet.sites,
        pools=fleet.pools,
        entities=entities_of(members, CohortId(cluster or "cluster")),
        transfers=(),
        quota_changes=(),
        policy=spec,
        cost=CostModel(),
        workloads=(),
    )


def _policy(spec: PolicySpec, setup: SlurmSetup) -> Policy:
    """The policy of ``spec``; a Slurm policy also gets the cluster's setup (what its
    options do not set comes from there)."""
    cls = POLICIES.get(spec.name)
    if issubclass(cls, SlurmMultifactor):
        factory: Callable[..., Policy] = cls
        return factory(**dict(spec.options), setup=setup)
    return build_policy(spec)


def _held_nodes(jobs: StartingJobs) -> set[int]:
    return {node for r in jobs.running for node, _ in r.placement.slots}


def _down_nodes(fleet: Fleet, jobs: StartingJobs) -> list[int]:
    """Nodes Slurm may not start work on (down, drained, failing), where no job runs."""
    held = _held_nodes(jobs)
    return [n.index for n in fleet.nodes.values() if not n.usable and n.index not in held]


def _drain_notes(fleet: Fleet, jobs: StartingJobs) -> tuple[str, ...]:
    held = _held_nodes(jobs)
    return tuple(
        f"node {n.name} is drained or down with jobs on it: counted usable (its free GPUs "
        "may take new jobs in the forecast, not in Slurm)"
        for n in fleet.nodes.values()
        if not n.usable and n.index in held
    )
