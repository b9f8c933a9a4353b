"""What a Slurm cluster holds now, read with the existing readers: each account's own
association (parent, shares, GrpTRES) from ``sacctmgr show assoc`` and gpufleet's
reservations (named ``gpufleet-*``) from ``scontrol show reservation``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gpufleet.live.enact.desired import EnactInputError
from gpufleet.live.enact.model import FAIRSHARE, GPU_TRES, PARENT, Value
from gpufleet.live.runner import CommandRunner
from gpufleet.live.slurm.cli import SlurmCliSource
from gpufleet.live.slurm.model import Association
from gpufleet.live.slurm.reservations import Reservation, read_reservations

PREFIX = "gpufleet-"
"""Reservations gpufleet manages; others are the cluster's own and left alone."""


@dataclass(frozen=True)
class AccountNow:
    name: str
    parent: str
    shares: int | None
    gpu_tres: Mapping[str, int]  # "gres/gpu" and "gres/gpu:TYPE" caps that are set

    def value(self, attribute: str) -> Value:
        if attribute == PARENT:
            return self.parent
        if attribute == FAIRSHARE:
            return self.shares
        return self.gpu_tres.get(attribute)


@dataclass(frozen=True)
class ClusterNow:
    cluster: str
    accounts: Mapping[str, AccountNow]
    reservations: Mapping[str, Reservation] = field(default_factory=dict)


def from_associations(
    cluster: str, assocs: tuple[Association, ...], reservations: tuple[Reservation, ...]
) -> ClusterNow:
    clusters = sorted({a.cluster for a in assocs})
    if cluster not in clusters:
        raise EnactInputError(
            "--cluster",
            f"Slurm's accounting has no cluster {cluster!r}",
            f"one of: {', '.join(clusters) or 'none'}",
        )
    accounts = {
        a.account: AccountNow(
            a.account,
            a.parent,
            a.shares,
            {t.tres: t.count for t in a.grp_tres if t.tres.startswith(GPU_TRES)},
        )
        for a in assocs
        if a.cluster == cluster and a.user == "" and a.partition == ""
    }
    mine = {r.name: r for r in reservations if r.name.startswith(PREFIX)}
    return ClusterNow(cluster, accounts, mine)


def read_cluster(runner: CommandRunner, cluster: str) -> ClusterNow:
    assocs = SlurmCliSource(runner).associations()
    return from_associations(cluster, assocs, read_reservations(runner))
