"""Metering a period, in numbered phases: (1) read sacct (or a saved answer) and the
register's pools; (2) meter the allocations; (3) meter busy GPU-seconds from the stored
samples; (4) replace the period's rows and audit their digest, in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from gpufleet.governance.register.plan import plan_scenario
from gpufleet.governance.store.db import Store
from gpufleet.live import store as live_store
from gpufleet.live.mapping import ClusterMapping
from gpufleet.live.metering.meter import DAY, Metered, Place, meter_busy, meter_jobs
from gpufleet.live.metering.period import Period
from gpufleet.live.metering.sacct import read_jobs
from gpufleet.live.metering.store import write_period

SOURCES = ("sacct", "dcgm")
PlaceOf = Callable[[str, str, str | None], Place | None]
AccountOf = Callable[[str], tuple[str, str] | None]


def _placer(mapping: ClusterMapping, pool_types: dict[str, str]) -> PlaceOf:
    def place_of(node: str, partition: str, typed: str | None) -> Place | None:
        p = mapping.slurm_place(node, [x for x in partition.split(",") if x])
        if p is None:
            return None
        gpu_type = pool_types.get(p.pool) or mapping.gpu_type(typed) or typed or ""
        return Place(str(p.entity), str(p.pool), str(p.site), str(gpu_type))

    return place_of


def _account_of(mapping: ClusterMapping) -> AccountOf:
    def account_of(account: str) -> tuple[str, str] | None:
        p = mapping.account(account)
        return (str(p.entity), str(p.program)) if p else None

    return account_of


def meter(
    store: Store,
    mapping: ClusterMapping,
    cluster: str,
    period: Period,
    sacct_source: str,
    sacct_lines: Iterable[str],
    as_of: datetime,
    actor: str,
) -> tuple[Metered, dict[str, bool]]:
    """Meter ``period`` and store it; returns what was metered and, per source, whether
    its rows changed (False: the same as the last metering)."""
    with store.read() as s:
        pool_types = {str(p.name): str(p.gpu_type) for p in plan_scenario(s).pools}
        samples = live_store.samples(s, period.start - DAY, period.end, parts=("usage",))
    jobs = read_jobs(sacct_source, sacct_lines)
    allocated, counted, unmapped = meter_jobs(
        jobs, period, as_of, _account_of(mapping), _placer(mapping, pool_types)
    )
    busy = meter_busy(samples, period)
    records = allocated + busy
    changed = {}
    with store.write(actor) as tx:
        for source in SOURCES:
            changed[source] = write_period(tx, cluster, period, source, records)
    return Metered(period, cluster, records, counted, unmapped), changed
