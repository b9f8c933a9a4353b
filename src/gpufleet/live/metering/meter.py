"""GPU-seconds per program and owner's pool per period.

**Allocated** (``sacct``): a job holding ``g`` GPUs from ``s`` to ``e`` (``e``: its end,
or for a running job the instant of the reading) uses, of the period ``[S, E)``,
``g x max(0, min(e, E) - max(s, S))`` GPU-seconds: its part inside the period, so a job
split across periods sums to its whole. Its account names the using entity and program
(the mapping's ``slurm.accounts``); each of its ``k`` nodes names the owner's pool, site
and entity (the mapping's ``slurm.nodes``), and takes ``1/k`` of it. The GPU type is the
pool's in the register (else the job's typed TRES through the mapping's ``gpu_types``).
A name the mapping does not place is kept with ``""`` and counted in :attr:`Metered.unmapped`.

**Busy** (DCGM): the live samples the observer stored (docs/live.md) already hold, per
sample, the GPUs each program was using busily on each owner's GPUs (``live_usage.busy``:
DCGM's utilisation over the busy threshold, joined to the scheduler's allocations through
the same mapping). A sample stands for ``[at, at + span_s)``; its busy GPUs times the part
of that span inside the period are its busy GPU-seconds. The stored samples are used,
not Prometheus range queries, because they outlive Prometheus's retention (hour and day
tiers are kept for months) and carry the attribution the observer made at the time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gpufleet.live.metering.period import Period
from gpufleet.live.metering.sacct import JobUse
from gpufleet.live.series import Sample


@dataclass(frozen=True, order=True)
class MeterKey:
    source: str  # "sacct" (allocated) or "dcgm" (busy)
    account: str
    entity: str  # the user: who used the GPUs
    program: str
    owner: str  # whose GPUs they were
    pool: str
    site: str
    gpu_type: str


@dataclass(frozen=True, order=True)
class MeterRecord:
    key: MeterKey
    gpu_seconds: float
    jobs: int

    @property
    def gpu_hours(self) -> float:
        return self.gpu_seconds / 3600


@dataclass(frozen=True)
class Metered:
    period: Period
    cluster: str
    records: tuple[MeterRecord, ...]
    jobs: int = 0  # jobs with GPU-seconds in the period
    unmapped: tuple[str, ...] = ()  # accounts and nodes the mapping does not place


@dataclass(frozen=True)
class Place:
    owner: str
    pool: str
    site: str
    gpu_type: str


@dataclass
class _Totals:
    seconds: dict[MeterKey, float] = field(default_factory=dict)
    jobs: dict[MeterKey, int] = field(default_factory=dict)

    def add(self, key: MeterKey, gpu_seconds: float) -> None:
        self.seconds[key] = self.seconds.get(key, 0.0) + gpu_seconds
        self.jobs[key] = self.jobs.get(key, 0) + 1

    def records(self) -> tuple[MeterRecord, ...]:
        return tuple(sorted(MeterRecord(k, v, self.jobs[k]) for k, v in self.seconds.items()))


def clipped_gpu_seconds(gpus: int, start: int, end: int, period: Period) -> int:
    """``gpus x max(0, min(end, E) - max(start, S))``: the job's GPU-seconds in the period."""
    return gpus * max(0, min(end, period.end_epoch) - max(start, period.start_epoch))


def meter_jobs(
    jobs: Iterable[JobUse],
    period: Period,
    as_of: datetime,
    account_of: Callable[[str], tuple[str, str] | None],
    place_of: Callable[[str, str, str | None], Place | None],
) -> tuple[tuple[MeterRecord, ...], int, tuple[str, ...]]:
    """(records, jobs counted, unmapped names). ``account_of(account)`` -> (entity,
    program); ``place_of(node, partition, typed gpu)`` -> the owner's place."""
    totals, counted, unmapped = _Totals(), 0, set()
    now = int(as_of.timestamp())
    places: dict[tuple[str, str, str | None], Place | None] = {}
    programs: dict[str, tuple[str, str] | None] = {}
    for job in jobs:
        used = clipped_gpu_seconds(job.gpus, job.start, job.end or now, period)
        if used <= 0:
            continue
        counted += 1
        if job.account not in programs:
            programs[job.account] = account_of(job.account)
        program = programs[job.account]
        if program is None:
            unmapped.add(f"account {job.account}")
        share = used / len(job.nodes)
        for node in job.nodes:
            pk = (node, job.partition, job.gpu_type)
            if pk not in places:
                places[pk] = place_of(*pk)
            place = places[pk]
            if place is None:
                unmapped.add(f"node {node}")
            key = MeterKey(
                "sacct", job.account, *(program or ("", "")),
                *((place.owner, place.pool, place.site, place.gpu_type) if place else ("",) * 4),
            )  # fmt: skip
            totals.add(key, share)
    return totals.records(), counted, tuple(sorted(unmapped))


DAY = timedelta(days=1)  # the longest sample span (the day tier): how far before S to read


def meter_busy(samples: Iterable[Sample], period: Period) -> tuple[MeterRecord, ...]:
    """Busy GPU-seconds per program and owner from stored samples, each sample's span
    clipped to the period; ``jobs`` counts the samples that contributed."""
    totals = _Totals()
    for sample in samples:
        start, end = max(sample.at, period.start), min(sample.end, period.end)
        inside = (end - start).total_seconds()
        if inside <= 0:
            continue
        for u in sample.usage:
            if u.busy is None or u.busy <= 0:
                continue
            key = MeterKey(
                "dcgm", "", u.entity or "", u.program or "", u.holder, "", u.site, u.gpu_type
            )
            totals.add(key, u.busy * inside)
    return totals.records()


def by_owner(records: Iterable[MeterRecord]) -> Mapping[tuple[str, str, str], float]:
    """GPU-seconds per (source, user entity, owner): the two sides a statement bills."""
    out: dict[tuple[str, str, str], float] = {}
    for r in records:
        k = (r.key.source, r.key.entity, r.key.owner)
        out[k] = out.get(k, 0.0) + r.gpu_seconds
    return out
