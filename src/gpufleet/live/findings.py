"""What the stored observations say, against the register's plan (pure functions over
:class:`~gpufleet.live.series.Sample` series and a :class:`~gpufleet.domain.scenario.
Scenario`):

1. **waste** per entity, site and GPU type: *stranded* GPU-days (registered and not
   usable: down, drained, or not listed by any scheduler) and *idle* GPU-days
   (allocated but measured below the busy threshold, plus up and unallocated), each
   ``sum over samples of GPUs x span_s / 86400``, in dollars at the plan's cost model
   (:mod:`gpufleet.live.costs`), beside *in-use* GPU-days (measured busy) and
   *unknown-use* GPU-days (allocated GPUs without telemetry: counted neither in use nor
   idle). A sample counts whole when its instant is in the window; a sample whose count
   is unknown adds nothing (0 is never assumed) and, where the schedulers' counts were
   unknown, its seconds are reported as unknown;
2. **drift** between the register and what is seen: GPU counts per entity, site and type
   (with the register's pools there), and caps in force against the plan's quota at now
   (:func:`gpufleet.planning.allocation.allocation_at`);
3. **suggestions**: where an entity's GPUs of a type at a site have been stranded or idle,
   at least ``min_gpus`` of them in every sample for at least ``after_s`` seconds up to
   the latest sample, while a *related* entity's program (same group of the register)
   waits for GPUs of that type in the latest sample, a lease of whole nodes (a transfer
   moves whole nodes): ``min(ceil(GPUs waited for / GPUs a node), floor(the fewest GPUs
   wasted over that time / GPUs a node), the pool's nodes)`` nodes, from today for
   ``lease_days``, as a pre-filled transfer request
   (:class:`~gpufleet.governance.transfers.lifecycle.TransferBody`) that goes through the
   usual governance: nothing is created here. Stranded GPUs are proposed to run at a site
   of the receiver's (``to_site``): where they stand they have no power or no scheduler.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from gpufleet.domain import Reason
from gpufleet.domain.scenario import Scenario
from gpufleet.governance.transfers.lifecycle import TransferBody
from gpufleet.live.costs import DAY_S, gpu_day_rates
from gpufleet.live.plan import plan_allocation
from gpufleet.live.series import CapacityPoint, Sample

WAITING_FOR_GPUS = frozenset(
    {
        Reason.QUOTA,
        Reason.BORROWING_LIMIT,
        Reason.CAPACITY,
        Reason.NO_GPU_TYPE,
        Reason.CAPACITY_DOWN,
        Reason.SITE_NOT_READY,
        Reason.NOT_DELIVERED,
    }
)
"""Reasons a lease of GPUs can relieve (more quota or more capacity of the type)."""

STRANDED, IDLE = "stranded", "idle"


@dataclass(frozen=True)
class SuggestionRules:
    min_gpus: int = 8
    after_s: float = 3_600.0
    lease_days: int = 30


DEFAULT_RULES = SuggestionRules()


@dataclass(frozen=True)
class Waste:
    """One entity's GPUs of one type at one site over the window."""

    entity: str
    site: str
    gpu_type: str
    in_use_now: float | None  # in the latest sample: allocated and measured busy
    stranded_now: float | None
    idle_now: float | None
    in_use_gpu_days: float
    stranded_gpu_days: float
    idle_gpu_days: float
    unknown_s: float  # seconds of samples whose stranded count was unknown (Slurm failed)
    stranded_usd_per_gpu_day: float
    idle_usd_per_gpu_day: float
    unknown_use_now: float | None = None  # allocated, use not measured (None: unknown)
    unknown_use_gpu_days: float = 0.0

    @property
    def stranded_usd(self) -> float:
        return self.stranded_gpu_days * self.stranded_usd_per_gpu_day

    @property
    def idle_usd(self) -> float:
        return self.idle_gpu_days * self.idle_usd_per_gpu_day


@dataclass(frozen=True)
class CountDrift:
    """Registered GPUs of an entity at a site that the schedulers do not list as many."""

    entity: str
    site: str
    gpu_type: str
    pools: tuple[str, ...]
    registered: float
    seen: float

    @property
    def message(self) -> str:
        pools = ", ".join(self.pools) or "no pool of the register"
        return (
            f"{self.entity} at {self.site}: {self.registered:g} {self.gpu_type} registered "
            f"({pools}), {self.seen:g} seen by the schedulers"
        )


@dataclass(frozen=True)
class QuotaDrift:
    """A cap in force on a program that is not the plan's quota now."""

    program: str
    entity: str | None
    gpu_type: str | None  # None: all types
    scope: str  # the scheduler's: "account xai"
    in_force: float | None  # None: no cap
    planned: int

    @property
    def message(self) -> str:
        kind = self.gpu_type or "GPUs (all types)"
        cap = "no GPU cap" if self.in_force is None else f"a cap of {self.in_force:g}"
        return (
            f"{self.program}: {cap} in force ({self.scope}), the plan's quota is "
            f"{self.planned} {kind}"
        )


@dataclass(frozen=True)
class Drift:
    counts: tuple[CountDrift, ...]
    quotas: tuple[QuotaDrift, ...]
    note: str = ""  # why a part could not be compared


@dataclass(frozen=True)
class Suggestion:
    kind: str  # "stranded" or "idle"
    from_entity: str
    site: str
    gpu_type: str
    to_entity: str
    to_program: str
    gpus: int
    wasted_since: datetime
    wasted_s: float
    demand_gpus: float
    demand_reasons: tuple[str, ...]  # gpufleet's, then the scheduler's
    request: TransferBody

    @property
    def assess_command(self) -> str:
        r = self.request
        where = f"@{r.to_site}" if r.to_site else ""
        end = f"..{r.end.isoformat()}" if r.end else ""
        move = (
            f"{r.gpus} {self.gpu_type} {r.from_entity}->{r.to_entity}{where} "
            f"{r.start.isoformat()}{end} pool={r.pool}"
        )
        return f"gpufleet db plan -o plan.yaml && gpufleet whatif plan.yaml --move '{move}'"


# --- 1. waste ---------------------------------------------------------------------------


def waste(series: Sequence[Sample], plan: Scenario) -> tuple[Waste, ...]:
    """In-use, stranded and idle GPU-days per entity, site and type over the samples."""
    days: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0.0] * 5)
    for sample in series:
        for c in sample.capacity:
            acc = days[c.key]
            for i, value in enumerate((c.in_use, c.stranded, c.wasted_idle, c.unknown_use)):
                if value is not None:
                    acc[i] += value * sample.span_s / DAY_S
            if c.stranded is None:
                acc[4] += sample.span_s
    latest = {c.key: c for c in series[-1].capacity} if series else {}
    out = []
    for (e, site, t), (in_use, stranded, idle, unknown_use, unknown) in sorted(days.items()):
        rates = gpu_day_rates(plan, e, site, t)
        now = latest.get((e, site, t))  # no row in the latest sample: none there
        out.append(
            Waste(
                e,
                site,
                t,
                now.in_use if now else 0.0,
                now.stranded if now else 0.0,
                now.wasted_idle if now else 0.0,
                in_use,
                stranded,
                idle,
                unknown,
                rates.stranded_usd,
                rates.idle_usd,
                now.unknown_use if now else 0.0,
                unknown_use,
            )
        )
    return tuple(out)


# --- 2. drift ---------------------------------------------------------------------------


def drift(latest: Sample, plan: Scenario, at: datetime) -> Drift:
    counts = tuple(
        CountDrift(c.entity, c.site, c.gpu_type, _pools(plan, c), c.registered, c.seen)
        for c in latest.capacity
        if c.seen is not None and c.seen != c.registered
    )
    allocation = plan_allocation(plan, at)
    if allocation is None:
        note = (
            f"the plan ({plan.start:%Y-%m-%d} to {plan.end:%Y-%m-%d}) does not cover {at:%Y-%m-%d}"
        )
        return Drift(counts, (), note)
    planned = allocation.quotas()
    quotas = []
    for q in latest.quotas:
        if q.program is None or q.program not in planned:
            continue
        per_type = planned[q.program]  # type: ignore[index]
        if q.gpu_type is None:
            nominal = sum(x.nominal_gpus for x in per_type.values())
        elif (quota := per_type.get(q.gpu_type)) is not None:  # type: ignore[call-overload]
            nominal = quota.nominal_gpus
        else:
            nominal = 0
        if q.gpus != nominal:
            quotas.append(QuotaDrift(q.program, q.entity, q.gpu_type, q.scope, q.gpus, nominal))
    return Drift(counts, tuple(quotas))


def _pools(plan: Scenario, c: CapacityPoint) -> tuple[str, ...]:
    return tuple(
        p.name
        for p in plan.pools
        if (p.owner, p.site, p.gpu_type) == (c.entity, c.site, c.gpu_type)
    )


# --- 3. suggestions ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Wasted:
    kind: str
    entity: str
    site: str
    gpu_type: str
    gpus: float  # the fewest over the run
    since: datetime
    seconds: float


def _runs(series: Sequence[Sample], rules: SuggestionRules) -> list[_Wasted]:
    """Per entity, site, type and kind, the unbroken run of samples up to the latest with
    at least ``min_gpus`` wasted, when it lasts ``after_s`` or more."""
    out = []
    for key in sorted({c.key for c in series[-1].capacity}):
        for kind in (STRANDED, IDLE):
            fewest, since, seconds = math.inf, series[-1].at, 0.0
            for sample in reversed(series):
                c = next((c for c in sample.capacity if c.key == key), None)
                value = (c.stranded if kind == STRANDED else c.wasted_idle) if c else 0.0
                if value is None or value < rules.min_gpus:
                    break
                fewest, since, seconds = min(fewest, value), sample.at, seconds + sample.span_s
            if seconds and seconds >= rules.after_s:
                out.append(_Wasted(kind, *key, fewest, since, seconds))
    return out


def suggestions(
    series: Sequence[Sample],
    plan: Scenario,
    groups: Mapping[str, str | None],
    today: date,
    rules: SuggestionRules = DEFAULT_RULES,
    latest: Sample | None = None,
) -> tuple[Suggestion, ...]:
    """Leases from entities wasting GPUs to related entities waiting for them (see the
    module's docstring); ``groups``: each entity's group in the register (None: none).
    The demand is ``latest``'s (default: the last of ``series``, which may then hold
    capacity rows only)."""
    if not series:
        return ()
    latest = latest or series[-1]
    waiting: dict[tuple[str, str, str | None], list[tuple[float, tuple[str, ...]]]] = defaultdict(
        list
    )
    for d in latest.demand:
        if d.entity and d.program and d.reason in WAITING_FOR_GPUS:
            said = (d.reason.value, *d.scheduler_reasons) if d.reason else d.scheduler_reasons
            waiting[(d.entity, d.program, d.gpu_type)].append((d.gpus, said))
    out = []
    for w in _runs(series, rules):
        for (to, program, gpu_type), asks in sorted(waiting.items(), key=str):
            related = groups.get(w.entity) is not None and groups.get(w.entity) == groups.get(to)
            if to == w.entity or not related or gpu_type not in (None, w.gpu_type):
                continue
            made = _suggest(w, to, program, asks, plan, today, rules)
            if made is not None:
                out.append(made)
    return tuple(out)


def _suggest(
    w: _Wasted,
    to: str,
    program: str,
    asks: list[tuple[float, tuple[str, ...]]],
    plan: Scenario,
    today: date,
    rules: SuggestionRules,
) -> Suggestion | None:
    pools = [
        p for p in plan.pools if (p.owner, p.site, p.gpu_type) == (w.entity, w.site, w.gpu_type)
    ]
    if not pools:
        return None  # the register lists no pool of these GPUs: nothing to lease
    pool = max(pools, key=lambda p: (p.gpu_count, p.name))
    asked = sum(g for g, _ in asks)
    per_node = pool.gpus_per_node  # a transfer moves whole nodes (lifecycle.request)
    nodes = min(
        math.ceil(asked / per_node - 1e-9),  # enough nodes for what is waited for,
        math.floor(w.gpus / per_node + 1e-9),  # of nodes wasted the whole time,
        pool.node_count,
    )
    if nodes < 1:
        return None
    gpus = nodes * per_node
    to_site = None
    if w.kind == STRANDED:
        theirs = sorted(p.site for p in plan.pools if p.owner == to and p.site != w.site)
        to_site = theirs[0] if theirs else None
    said = tuple(dict.fromkeys(r for _, reasons in asks for r in reasons))
    body = TransferBody(
        pool=pool.name,
        gpus=gpus,
        from_entity=w.entity,
        to_entity=to,
        to_site=to_site,
        to_program=program,
        start=today,
        end=today + timedelta(days=rules.lease_days),
        note=(
            f"suggested by gpufleet status: {gpus} {w.gpu_type} of {w.entity} at {w.site} "
            f"{w.kind} for {w.seconds / 3600:.1f} h while {program} waits for {asked:g}"
        ),
    )
    return Suggestion(
        w.kind,
        w.entity,
        w.site,
        w.gpu_type,
        to,
        program,
        gpus,
        w.since,
        w.seconds,
        asked,
        said,
        body,
    )
