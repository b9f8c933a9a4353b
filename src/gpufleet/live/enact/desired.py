"""The desired state of one Slurm cluster at an instant: a pure function of the register's
rows, the mapping and the cluster's settings (and, for reservations, its node names).

Rules (each element carries the rows that cause it, :mod:`.model`):

1. **Accounts.** Every account of the mapping's ``slurm.accounts`` is a program account
   whose parent is its entity's account, named as the entity, under ``root``. Where a
   program's account is named as its entity (the dev cluster's ``tesla`` and ``xai``), the
   two levels are one account, under ``root``. Accounts are only added, never removed.
2. **Fair-share.** A program account's shares are ``round(weight * fairshare_scale)``; an
   entity account's are the sum of its programs' (so each program's share of the root is
   its weight over all weights, Slurm's shares being relative among siblings:
   https://slurm.schedmd.com/fair_tree.html).
3. **GPU caps** (GrpTRES, a hard cap on the GPUs an account's running jobs hold together:
   https://slurm.schedmd.com/resource_limits.html). A program's cap of a type is its nominal
   quota in force (the latest quota row effective at or before the instant; no row: 0)
   less what transfers in force give away (not below 0, as the simulator clamps) plus what
   they bring. Only the GPU types of the pools the mapping places on this cluster count.
   ``typed``: ``gres/gpu:TYPE`` per type and no untyped cap; ``total``: ``gres/gpu`` = the
   sum over the types and no typed caps. Borrowing has no Slurm association equivalent:
   the cap is the nominal quota.
4. **Leases as reservations** (``leases: reservation``): a transfer in force with an end
   and whole nodes of its pool also reserves that many of the pool's nodes (first by
   name) for the taker's account over [start, end), with ``IGNORE_JOBS`` so that running
   jobs keep running (https://slurm.schedmd.com/reservations.html).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from gpufleet.errors import InputError, Problem
from gpufleet.live.enact.model import (
    FAIRSHARE,
    GPU_TRES,
    NO_ROW,
    PARENT,
    Cause,
    ClusterSettings,
    DesiredReservation,
    DesiredState,
    GpuLimitStyle,
    LeaseStyle,
    MappingCause,
    QuotaCause,
    Setting,
    TransferCause,
    WeightCause,
)
from gpufleet.live.enact.register import QuotaRec, RegisterRows, TransferRec
from gpufleet.live.mapping import ClusterMapping

_GRES_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_ACCOUNT = re.compile(r"[a-z0-9_][a-z0-9_.-]{0,63}")


class EnactInputError(InputError):
    """The register or the mapping asks for what this cluster cannot carry."""

    def __init__(self, field: str, message: str, expected: str = "", file: str = "") -> None:
        problem = Problem(field, message, expected, file)
        super().__init__(problem.render(), [problem])


@dataclass(frozen=True)
class _Account:
    name: str
    entity: str
    program: str


@dataclass
class _Cap:
    gpus: int
    causes: list[Cause]


def desired_state(
    rows: RegisterRows,
    mapping: ClusterMapping,
    settings: ClusterSettings,
    at: datetime,
    nodes: Mapping[str, tuple[str, ...]] | None = None,
) -> DesiredState:
    """What ``settings.cluster`` should hold at ``at`` (naive UTC). ``nodes``: the cluster's
    node names and their partitions, needed only for reservations."""
    accounts = _accounts(rows, mapping)
    types = _cluster_types(rows, mapping)
    in_force = [t for t in rows.transfers if t.in_force(at)]
    caps, notes = _caps(rows, accounts, types, in_force, at)
    out = _hierarchy(rows, accounts, settings)
    out += _cap_settings(accounts, types, caps, settings.gpu_limits)
    reservations: tuple[DesiredReservation, ...] = ()
    if settings.leases is LeaseStyle.RESERVATION:
        reservations, more = _reservations(rows, mapping, accounts, in_force, nodes or {})
        notes += more
    return DesiredState(settings.cluster, at, tuple(out), reservations, tuple(notes))


def _accounts(rows: RegisterRows, mapping: ClusterMapping) -> list[_Account]:
    out = []
    for name, target in mapping.model.slurm.accounts.items():
        if not _ACCOUNT.fullmatch(name):
            raise EnactInputError(
                f"slurm.accounts.{name}", "is not an account name gpufleet will write",
                "lower-case letters, digits, '_', '.', '-' (Slurm lower-cases account names)",
                mapping.file,
            )  # fmt: skip
        program = rows.program(target.program)
        if program is None or program.entity != target.entity:
            known = ", ".join(f"{p.entity}/{p.name}" for p in rows.programs) or "none"
            raise EnactInputError(
                f"slurm.accounts.{name}",
                f"{target.entity}/{target.program} is not a program of the register",
                f"one of: {known}",
                mapping.file,
            )
        out.append(_Account(name, target.entity, target.program))
    return out


def _cluster_types(rows: RegisterRows, mapping: ClusterMapping) -> dict[str, str]:
    """The register's GPU types on this cluster (its pools the mapping places) -> the gres
    type Slurm names it by (the first mapping key for it that is a gres name)."""
    out: dict[str, str] = {}
    for i, rule in enumerate(mapping.model.slurm.nodes):
        pool = rows.pool(rule.pool)
        if pool is None:
            known = ", ".join(p.name for p in rows.pools) or "none"
            raise EnactInputError(
                f"slurm.nodes[{i}].pool", f"pool {rule.pool!r} is not in the register",
                f"one of: {known}", mapping.file,
            )  # fmt: skip
        if pool.gpu_type not in out:
            out[pool.gpu_type] = _gres_name(mapping, pool.gpu_type)
    return out


def _gres_name(mapping: ClusterMapping, gpu_type: str) -> str:
    for name, target in mapping.model.gpu_types.items():
        if target == gpu_type and _GRES_NAME.fullmatch(name):
            return name
    raise EnactInputError(
        "gpu_types", f"no Slurm gres type maps to {gpu_type}",
        f"a line 'TYPE: {gpu_type}' where TYPE is the nodes' gres type (e.g. h100)", mapping.file,
    )  # fmt: skip


def _quota_in_force(quotas: Iterable[QuotaRec], program: str, gpu_type: str, at: datetime) -> _Cap:
    """The latest of ``quotas`` (``program``'s rows of ``gpu_type``, in the register's
    order) effective at or before ``at``; of two on the same day, the later row."""
    found = None
    for q in quotas:
        if (q.effective or datetime.min) <= at and (
            found is None or (found.effective or datetime.min) <= (q.effective or datetime.min)
        ):
            found = q
    if found is None:
        return _Cap(0, [QuotaCause(program, gpu_type, 0, NO_ROW)])
    when = found.effective.isoformat() if found.effective else "plan start"
    return _Cap(found.nominal, [QuotaCause(program, gpu_type, found.nominal, when)])


def _caps(
    rows: RegisterRows,
    accounts: list[_Account],
    types: Mapping[str, str],
    in_force: list[TransferRec],
    at: datetime,
) -> tuple[dict[tuple[str, str], _Cap], list[str]]:
    """(program, GPU type) -> the cap at ``at`` with its causes; and notes on transfers
    this cluster carries only in part."""
    programs = {a.program for a in accounts}
    rows_of: dict[tuple[str, str], list[QuotaRec]] = defaultdict(list)
    for q in rows.quotas:  # once, not once per program and type (50 x 20 x 4: 2.3 s)
        rows_of[(q.program, q.gpu_type)].append(q)
    caps: dict[tuple[str, str], _Cap] = {}
    for p in sorted(programs):
        for t in types:
            caps[(p, t)] = _quota_in_force(rows_of.get((p, t), ()), p, t, at)
    notes: list[str] = []
    for tr in sorted(in_force, key=lambda x: (x.start, x.id or 0)):
        pool = rows.pool(tr.pool)
        if pool is None or pool.gpu_type not in types:
            continue  # another cluster's GPUs
        cause = _transfer_cause(tr, pool.gpu_type)
        for program, sign in ((tr.giver, -1), (tr.taker, +1)):
            cap = caps.get((program, pool.gpu_type))
            if cap is None:
                notes.append(f"{cause.text()}: program {program} has no account on this cluster")
                continue
            cap.gpus = max(0, cap.gpus + sign * tr.gpus)
            cap.causes.append(cause)
    return caps, notes


def _transfer_cause(tr: TransferRec, gpu_type: str) -> TransferCause:
    return TransferCause(
        tr.id, tr.name, tr.state, tr.gpus, gpu_type, tr.pool, tr.giver, tr.taker,
        tr.start.isoformat(), tr.end.isoformat() if tr.end else None, tr.approvals,
    )  # fmt: skip


def _hierarchy(
    rows: RegisterRows, accounts: list[_Account], settings: ClusterSettings
) -> list[Setting]:
    """Parent and shares of every program account and of the entity accounts above."""
    out: list[Setting] = []
    entity_shares: dict[str, int] = defaultdict(int)
    entity_causes: dict[str, list[Cause]] = defaultdict(list)
    names = {a.name for a in accounts}
    for a in accounts:
        program = rows.program(a.program)
        assert program is not None  # checked by _accounts
        shares = round(program.weight * settings.fairshare_scale)
        mapped = MappingCause(a.name, a.entity, a.program)
        weight = WeightCause(a.program, program.weight)
        collapsed = a.name == a.entity
        parent = settings.root if collapsed else a.entity
        out.append(Setting(a.name, PARENT, parent, (mapped,)))
        if not collapsed:
            out.append(Setting(a.name, FAIRSHARE, shares, (mapped, weight)))
        entity_shares[a.entity] += shares
        entity_causes[a.entity] += [weight] if collapsed else [mapped, weight]
    for entity, shares in entity_shares.items():
        causes = tuple(entity_causes[entity])
        if entity not in names:
            out.append(
                Setting(entity, PARENT, settings.root, (MappingCause(entity, entity, None),))
            )
        out.append(Setting(entity, FAIRSHARE, shares, causes))
    return out


def _cap_settings(
    accounts: list[_Account],
    types: Mapping[str, str],
    caps: Mapping[tuple[str, str], _Cap],
    style: GpuLimitStyle,
) -> list[Setting]:
    out: list[Setting] = []
    for a in accounts:
        mine = [(gres, caps[(a.program, t)]) for t, gres in types.items()]
        causes = tuple(c for _, cap in mine for c in cap.causes)
        if style is GpuLimitStyle.TOTAL:
            out.append(Setting(a.name, GPU_TRES, sum(cap.gpus for _, cap in mine), causes))
            out += [Setting(a.name, f"{GPU_TRES}:{gres}", None, causes) for gres, _ in mine]
        else:
            out.append(Setting(a.name, GPU_TRES, None, causes))
            out += [
                Setting(a.name, f"{GPU_TRES}:{gres}", cap.gpus, tuple(cap.causes))
                for gres, cap in mine
            ]
    return out


def reservation_name(tr: TransferRec) -> str:
    return f"gpufleet-transfer-{tr.id if tr.id is not None else tr.name}"


def _reservations(
    rows: RegisterRows,
    mapping: ClusterMapping,
    accounts: list[_Account],
    in_force: list[TransferRec],
    nodes: Mapping[str, tuple[str, ...]],
) -> tuple[tuple[DesiredReservation, ...], list[str]]:
    out: list[DesiredReservation] = []
    notes: list[str] = []
    account_of = {a.program: a.name for a in accounts}
    for tr in in_force:
        pool = rows.pool(tr.pool)
        placed = sorted(
            n
            for n, parts in nodes.items()
            if (p := mapping.slurm_place(n, parts)) and p.pool == tr.pool
        )
        if pool is None or not placed:
            continue  # not on this cluster (its caps note it where it matters)
        cause = _transfer_cause(tr, pool.gpu_type)
        if tr.end is None:
            notes.append(f"{cause.text()}: open-ended, so no reservation (a move for good)")
            continue
        whole, rest = divmod(tr.gpus, pool.gpus_per_node)
        if rest or whole > len(placed) or tr.taker not in account_of:
            raise EnactInputError(
                f"transfer #{tr.id}", f"{tr.gpus} GPUs of {tr.pool} cannot be reserved here: "
                f"the pool has {len(placed)} node(s) of {pool.gpus_per_node} GPUs on this "
                f"cluster{'' if tr.taker in account_of else f' and {tr.taker} has no account'}",
                "whole nodes of the pool, for a program with an account on this cluster",
            )  # fmt: skip
        out.append(
            DesiredReservation(
                reservation_name(tr),
                (account_of[tr.taker],),
                tuple(placed[:whole]),
                tr.start,
                tr.end,
                (cause,),
            )
        )
    return tuple(out), notes
