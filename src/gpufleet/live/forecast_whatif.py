"""What-if from now: the forecast with a lease applied from now, beside the one without.

A lease ``N TYPE FROM->TO`` (``FROM``/``TO``: the register's ``entity`` or
``entity/program``, as in ``gpufleet whatif --move``; ``TYPE`` a catalog name or a unique
prefix of one) lends N GPUs from now to the end of the forecast.

How it is applied: the observed state is changed, then :func:`forecast_from_state` runs
on it (the policies and the simulator are untouched). Under Slurm, who holds a node does
not decide who may run on it: any account may run on any node of its partitions (the
forecast runs all of a cluster's nodes as one cohort, :mod:`~gpufleet.live.forecast_fleet`),
and what stops an account is its association's limit (``GrpTRES``). So the lent GPUs
counted as the receiver's are, in Slurm's terms, what an admin would write with sacctmgr
for the lease: the receiver's account caps raised by N (its ``gres/gpu`` cap and its
``gres/gpu:TYPE`` cap for the lent type, where set) and the giver's lowered by N (not
below 0). An account without a cap gains nothing (said in the notes).

The comparison, per register program with pending jobs: the mean predicted start of its
pending jobs that start by the horizon (``now + mean(start - now)``), how many do not,
and its milestone date, in both arms, and the differences (lease minus base, seconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from gpufleet.domain import GpuCatalog, GpuTypeName, default_catalog
from gpufleet.errors import InputError
from gpufleet.live.forecast import Forecast, SlurmState, forecast_from_state
from gpufleet.live.forecast_result import JobForecast
from gpufleet.live.mapping import ClusterMapping
from gpufleet.live.slurm.model import Association, TresLimit
from gpufleet.planning.whatif.apply import resolve_type

LEASE_FORM = "N TYPE FROM->TO, FROM and TO an entity or entity/program, e.g. '4 H100 tesla->xai'"


class LeaseError(InputError):
    """A ``--lease`` that does not parse or does not fit the cluster's mapping."""

    def __init__(self, text: str, problem: str) -> None:
        super().__init__(f"--lease {text!r}: {problem} (expected {LEASE_FORM})")


@dataclass(frozen=True)
class Party:
    entity: str
    program: str | None


@dataclass(frozen=True)
class Lease:
    gpus: int
    gpu_type: GpuTypeName
    giver: Party
    receiver: Party
    text: str


def _party(text: str, side: str, s: str) -> Party:
    entity, slash, program = s.partition("/")
    if not entity or (slash and not program):
        raise LeaseError(text, f"{side} {s!r} is not ENTITY or ENTITY/PROGRAM")
    return Party(entity, program or None)


def parse_lease(text: str, catalog: GpuCatalog | None = None) -> Lease:
    """``"4 H100 tesla->xai"`` -> a :class:`Lease`; each part checked."""
    parts = text.split()
    if len(parts) != 3:
        raise LeaseError(text, f"{len(parts)} part(s), 3 needed")
    count, type_name, route = parts
    if not count.isdigit() or int(count) == 0:
        raise LeaseError(text, f"GPU count {count!r} is not a whole number > 0")
    gpu_type = resolve_type(catalog or default_catalog(), type_name)
    if gpu_type is None:
        raise LeaseError(text, f"GPU type {type_name!r} is not a catalog name or unique prefix")
    if route.count("->") != 1:
        raise LeaseError(text, f"{route!r} is not FROM->TO")
    src, dst = route.split("->")
    return Lease(int(count), gpu_type, _party(text, "FROM", src), _party(text, "TO", dst), text)


def accounts_of(mapping: ClusterMapping, party: Party) -> list[str]:
    """The Slurm accounts the mapping gives to the party (entity, and program if named)."""
    return sorted(
        name
        for name, t in mapping.model.slurm.accounts.items()
        if t.entity == party.entity and (party.program is None or t.program == party.program)
    )


def _one_account(lease: Lease, mapping: ClusterMapping, party: Party, side: str) -> str:
    found = accounts_of(mapping, party)
    who = party.entity + (f"/{party.program}" if party.program else "")
    if not found:
        known = sorted({t.entity for t in mapping.model.slurm.accounts.values()})
        raise LeaseError(
            lease.text,
            f"{side} {who!r}: no Slurm account of the mapping's slurm.accounts is theirs "
            f"(entities there: {', '.join(known) or 'none'})",
        )
    if len(found) > 1:
        raise LeaseError(
            lease.text,
            f"{side} {who!r} has {len(found)} accounts ({', '.join(found)}): name ENTITY/PROGRAM",
        )
    return found[0]


def _shifted(
    limits: Sequence[TresLimit], by: int, gpu_type: GpuTypeName, mapping: ClusterMapping
) -> tuple[TresLimit, ...]:
    """GPU caps (all types, and the lent type) moved by ``by``, not below 0."""
    out = []
    for t in limits:
        typed = t.tres.startswith("gres/gpu:") and (
            mapping.gpu_type(t.tres.removeprefix("gres/gpu:")) == gpu_type
        )
        if t.tres == "gres/gpu" or typed:
            t = TresLimit(t.tres, max(0, t.count + by))
        out.append(t)
    return tuple(out)


def lease_accounts(lease: Lease, mapping: ClusterMapping) -> tuple[str, str]:
    """The giver's and the receiver's Slurm account (checked before the cluster is read)."""
    giver = _one_account(lease, mapping, lease.giver, "FROM")
    receiver = _one_account(lease, mapping, lease.receiver, "TO")
    if giver == receiver:
        raise LeaseError(lease.text, f"FROM and TO are one Slurm account ({giver!r})")
    return giver, receiver


def lease_state(
    state: SlurmState, mapping: ClusterMapping, lease: Lease
) -> tuple[SlurmState, tuple[str, ...]]:
    """The state with the lease in the accounts' limits (module docstring), and notes."""
    giver, receiver = lease_accounts(lease, mapping)
    moves = {giver: -lease.gpus, receiver: lease.gpus}
    rows: list[Association] = []
    capped: set[str] = set()
    for a in state.associations:
        if not a.user and a.account in moves:
            shifted = _shifted(a.grp_tres, moves[a.account], lease.gpu_type, mapping)
            if shifted != a.grp_tres:
                capped.add(a.account)
            a = replace(a, grp_tres=shifted)
        rows.append(a)
    notes: list[str] = []
    if giver not in capped:
        notes.append(f"account {giver} has no GPU cap: lending takes nothing from it")
    if receiver not in capped:
        notes.append(f"account {receiver} has no GPU cap: the lease gives it nothing more")
    return replace(state, associations=tuple(rows)), tuple(notes)


@dataclass(frozen=True)
class Arm:
    """One program's pending jobs and milestone in one arm of the comparison."""

    mean_start: datetime | None  # None: none of its pending jobs starts by the horizon
    not_started: int
    milestone: datetime | None


@dataclass(frozen=True)
class ProgramComparison:
    program: str
    pending: int
    base: Arm
    lease: Arm

    @property
    def start_change_s(self) -> float | None:
        return _diff(self.base.mean_start, self.lease.mean_start)

    @property
    def milestone_change_s(self) -> float | None:
        return _diff(self.base.milestone, self.lease.milestone)


def _diff(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else (b - a).total_seconds()


@dataclass(frozen=True)
class LeaseForecast:
    lease: Lease
    base: Forecast
    leased: Forecast
    programs: tuple[ProgramComparison, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "lease": self.lease.text,
            "programs": [_comparison_json(c) for c in self.programs],
            "notes": list(self.notes),
            "base": self.base.to_dict(),
            "leased": self.leased.to_dict(),
        }


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _comparison_json(c: ProgramComparison) -> dict[str, Any]:
    def arm(a: Arm) -> dict[str, Any]:
        return {
            "mean_start": _iso(a.mean_start),
            "not_started": a.not_started,
            "milestone": _iso(a.milestone),
        }

    return {
        "program": c.program,
        "pending": c.pending,
        "base": arm(c.base),
        "lease": arm(c.lease),
        "start_change_s": c.start_change_s,
        "milestone_change_s": c.milestone_change_s,
    }


def program_of(j: JobForecast) -> str:
    """The register's program of a job, or its Slurm account where the mapping has none."""
    return j.program or j.account


def _arm(f: Forecast, program: str) -> Arm:
    starts = [j.start for j in f.pending if program_of(j) == program]
    known = [(s - f.now).total_seconds() for s in starts if s is not None]
    mean = f.now + timedelta(seconds=sum(known) / len(known)) if known else None
    reached = next((m.reached for m in f.milestones if m.program == program), None)
    return Arm(mean, len(starts) - len(known), reached)


def compare(base: Forecast, leased: Forecast) -> tuple[ProgramComparison, ...]:
    """Per program with pending jobs or a milestone, both arms (module docstring)."""
    names = {program_of(j) for j in base.pending} | {m.program for m in base.milestones}
    return tuple(
        ProgramComparison(
            p, sum(program_of(j) == p for j in base.pending), _arm(base, p), _arm(leased, p)
        )
        for p in sorted(names)
    )


def forecast_with_lease(
    state: SlurmState, mapping: ClusterMapping, now: datetime, lease: Lease, **options: Any
) -> LeaseForecast:
    """Both forecasts from ``state`` at ``now`` (``options``: :func:`forecast_from_state`'s)
    and their comparison per program."""
    leased_state, notes = lease_state(state, mapping, lease)
    base = forecast_from_state(state, mapping, now, **options)
    leased = forecast_from_state(leased_state, mapping, now, **options)
    return LeaseForecast(lease, base, leased, compare(base, leased), notes)
