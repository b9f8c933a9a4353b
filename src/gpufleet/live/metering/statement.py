"""The intercompany statement: what ``taker`` used of ``giver``'s GPUs in a period, and
what it comes to.

For each pool of the giver that the taker used (the ``sacct`` rows with ``owner`` the
giver and ``entity`` the taker), with ``h`` the metered GPU-hours (GPU-seconds / 3600):

- **agreed**: ``h x r_agreed``, ``r_agreed = price_usd / (gpus x window hours)`` of the
  transfer in force on that pool (its agreed price spread over the GPU-hours it grants;
  the assessment's charge GPU-hours where the window is open-ended). Several transfers
  on the pool in the period: their rates weighted by the GPU-hours each grants in it.
  Use with no transfer in the period has no agreed price (the line says so);
- **cost-plus**: ``h x cost_rate x (1 + markup)``, the owner's all-in $/GPU-hour
  (:func:`gpufleet.planning.whatif.charges.cost_rate`) and the markup the assessment used;
- **market**: ``h x market rate`` (the assessment's, or ``--market-rate``), none without;
- **stranded cost avoided**: ``h x stranded $/GPU-hour`` of the owner's GPUs of that type
  at that site (:func:`gpufleet.live.costs.gpu_day_rates` / 24): what those GPU-hours cost
  the owner whether or not anyone ran on them, which the lease put to use;
- **plan versus actual**: the GPU-hours the transfers grant in the period
  (``gpus x hours of the window inside the period``, what the assessment priced, its
  charge's GPU-hours and fair value prorated to the period) against ``h``; and the busy
  GPU-hours DCGM saw (the ``dcgm`` rows of the same owner, site and type).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from gpufleet.live.metering.meter import MeterRecord
from gpufleet.live.metering.period import Period


@dataclass(frozen=True)
class TransferTerms:
    """A transfer of the plan as the statement prices it."""

    id: int | None
    name: str
    state: str
    pool: str
    gpus: int
    giver: str
    taker: str
    start: datetime  # naive UTC, as the register's dates
    end: datetime | None
    price_usd: float
    cost_rate_usd_per_gpu_hour: float
    markup: float
    market_rate_usd_per_gpu_hour: float | None
    assessed_gpu_hours: float | None  # the assessment's charge
    assessed_fair_usd: float | None

    def _window_end(self) -> datetime | None:
        return self.end

    def granted_hours(self, period: Period) -> float:
        """``gpus x hours of [start, end) inside the period``."""
        start = max(self.start, _naive(period.start))
        end = min(self.end or _naive(period.end), _naive(period.end))
        return self.gpus * max(0.0, (end - start).total_seconds() / 3600)

    def window_gpu_hours(self) -> float | None:
        if self.end is not None:
            return self.gpus * (self.end - self.start).total_seconds() / 3600
        return self.assessed_gpu_hours

    def agreed_rate(self) -> float | None:
        hours = self.window_gpu_hours()
        return self.price_usd / hours if hours else None


@dataclass(frozen=True)
class PoolFacts:
    name: str
    owner: str
    site: str
    gpu_type: str
    stranded_usd_per_gpu_hour: float
    cost_rate_usd_per_gpu_hour: float


@dataclass(frozen=True)
class Line:
    pool: str
    site: str
    gpu_type: str
    jobs: int
    gpu_hours: float
    busy_gpu_hours: float | None
    transfers: tuple[str, ...]  # "#ID name"
    agreed_usd_per_gpu_hour: float | None
    agreed_usd: float | None
    cost_plus_usd_per_gpu_hour: float
    cost_plus_usd: float
    market_usd_per_gpu_hour: float | None
    market_usd: float | None
    stranded_usd_per_gpu_hour: float
    stranded_cost_avoided_usd: float
    planned_gpu_hours: float
    assessed_gpu_hours: float | None
    assessed_fair_usd: float | None


@dataclass(frozen=True)
class Statement:
    period: Period
    giver: str
    taker: str
    lines: tuple[Line, ...]
    notes: tuple[str, ...]

    def total(self, name: str) -> float | None:
        values = [getattr(x, name) for x in self.lines]
        if any(v is None for v in values):
            return None
        return float(sum(values))


def _naive(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None)


def _weighted(pairs: Sequence[tuple[float | None, float]]) -> float | None:
    """The mean of the rates weighted by the hours; None when any rate is unknown."""
    hours = sum(h for _, h in pairs)
    if not pairs or hours <= 0 or any(r is None for r, _ in pairs):
        return None
    return sum((r or 0.0) * h for r, h in pairs) / hours


def _line(
    pool: PoolFacts,
    seconds: float,
    jobs: int,
    busy_s: float | None,
    terms: Sequence[TransferTerms],
    period: Period,
    market: float | None,
) -> Line:
    h = seconds / 3600
    granted = [(t, t.granted_hours(period)) for t in terms]
    granted = [(t, g) for t, g in granted if g > 0]
    agreed = _weighted([(t.agreed_rate(), g) for t, g in granted])
    markup = _weighted([(t.markup, g) for t, g in granted]) or 0.0
    cost_plus = pool.cost_rate_usd_per_gpu_hour * (1 + markup)
    market = market if market is not None else _weighted(
        [(t.market_rate_usd_per_gpu_hour, g) for t, g in granted]
    )  # fmt: skip
    share = [(t, g / w) for t, g in granted if (w := t.window_gpu_hours())]
    assessed_h = [t.assessed_gpu_hours for t, _ in share]
    assessed_usd = [t.assessed_fair_usd for t, _ in share]
    return Line(
        pool.name, pool.site, pool.gpu_type, jobs, h,
        busy_s / 3600 if busy_s is not None else None,
        tuple(f"#{t.id} {t.name}" for t, _ in granted),
        agreed, h * agreed if agreed is not None else None,
        cost_plus, h * cost_plus,
        market, h * market if market is not None else None,
        pool.stranded_usd_per_gpu_hour, h * pool.stranded_usd_per_gpu_hour,
        sum(g for _, g in granted),
        None if not share or None in assessed_h
        else sum((a or 0.0) * f for a, (_, f) in zip(assessed_h, share, strict=True)),
        None if not share or None in assessed_usd
        else sum((a or 0.0) * f for a, (_, f) in zip(assessed_usd, share, strict=True)),
    )  # fmt: skip


def statement(
    period: Period,
    giver: str,
    taker: str,
    records: Iterable[MeterRecord],
    pools: Sequence[PoolFacts],
    transfers: Sequence[TransferTerms],
    market_rate: float | None = None,
) -> Statement:
    """The statement of ``taker``'s use of ``giver``'s GPUs in the period (see module)."""
    used: dict[str, list[float]] = {}
    busy: dict[tuple[str, str], float] = {}
    notes: list[str] = []
    for r in records:
        k = r.key
        if k.owner != giver or k.entity != taker:
            continue
        if k.source == "sacct":
            acc = used.setdefault(k.pool, [0.0, 0])
            acc[0] += r.gpu_seconds
            acc[1] += r.jobs
        elif k.source == "dcgm":
            busy[(k.site, k.gpu_type)] = busy.get((k.site, k.gpu_type), 0.0) + r.gpu_seconds
    mine = [t for t in transfers if t.giver == giver and t.taker == taker]
    lines = []
    by_name = {p.name: p for p in pools}
    for name in sorted(set(used) | {t.pool for t in mine if t.granted_hours(period) > 0}):
        pool = by_name.get(name)
        if pool is None:
            notes.append(f"pool {name!r} is not in the register: its use is not priced")
            continue
        seconds, jobs = used.get(name, [0.0, 0])
        terms = [t for t in mine if t.pool == name]
        line = _line(pool, seconds, int(jobs), busy.get((pool.site, pool.gpu_type)), terms,
                     period, market_rate)  # fmt: skip
        if not line.transfers and seconds > 0:
            notes.append(f"{taker} used {name} with no transfer in the period: no agreed price")
        lines.append(line)
    if busy and len({(p.site, p.gpu_type) for p in pools if p.name in used}) < len(used):
        notes.append("busy GPU-hours are per site and type: pools sharing both share them")
    return Statement(period, giver, taker, tuple(lines), tuple(notes))


def related_pairs(
    records: Iterable[MeterRecord], transfers: Sequence[TransferTerms], period: Period
) -> list[tuple[str, str]]:
    """(giver, taker) for every entity that used another's GPUs in the period (the sacct
    rows) or that a transfer grants another's GPUs in it, in name order."""
    pairs = {
        (r.key.owner, r.key.entity)
        for r in records
        if r.key.source == "sacct" and r.key.owner and r.key.entity and r.gpu_seconds > 0
    }
    pairs |= {(t.giver, t.taker) for t in transfers if t.granted_hours(period) > 0}
    return sorted((g, t) for g, t in pairs if g != t)
