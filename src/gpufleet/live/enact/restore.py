"""A Slurm cluster's accounts and gpufleet's reservations, recorded and put back exactly.

What ``gpufleet apply slurm`` may change (:mod:`.slurm_apply`): each account's parent, its
fair-share shares and its GPU caps (``GrpTRES=gres/gpu...``), added accounts, and
reservations named ``gpufleet-*``. :func:`take` records them; :func:`restore` undoes every
difference, one attribute a command, and deletes what was added, so that a rehearsal (the
live-fleet story, the live tests) leaves the cluster as it found it.

Commands run through ``run(*argv) -> stdout`` (the caller's: it sets SLURM_CONF and says
what a failure means). Why one attribute a command: ``sacctmgr`` answers "Nothing
modified" (exit 1) to a command that changes nothing, and refused parent, fairshare and
GrpTRES set together on an account (seen on Slurm 22.05), as it refuses a command naming a
TRES the cluster does not track.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Run = Callable[..., str]

ASSOC = ("sacctmgr", "-P", "-n", "show", "assoc", "format=Account,User,ParentName,Share,GrpTRES")
RESERVATIONS = ("scontrol", "-o", "show", "reservation")
OURS = "gpufleet-"  # the prefix of the reservations gpufleet creates


@dataclass(frozen=True)
class Account:
    """An account's own association: its parent, shares and GPU caps (TRES -> count)."""

    parent: str
    shares: str
    gpu_caps: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ClusterState:
    """The associations' and reservations' text as Slurm printed them."""

    associations: str
    reservations: str


def take(run: Run) -> ClusterState:
    return ClusterState(run(*ASSOC), run(*RESERVATIONS))


def accounts(associations: str) -> dict[str, Account]:
    """Each account's own association (the rows without a user) in ``sacctmgr -P``'s
    ``Account|User|ParentName|Share|GrpTRES`` text."""
    out = {}
    for line in associations.splitlines():
        account, user, parent, shares, tres = line.split("|")
        if not user:
            caps = sorted(
                tuple(t.split("=", 1)) for t in tres.split(",") if t.startswith("gres/gpu")
            )
            out[account] = Account(parent, shares, tuple((k, v) for k, v in caps))
    return out


def restore(run: Run, before: ClusterState, cluster: str) -> bool:
    """Put back every account's parent, shares and GPU caps that differ from ``before``;
    delete accounts added since and gpufleet's reservations. True when the cluster's state
    equals ``before`` again."""
    was, now = accounts(before.associations), accounts(run(*ASSOC))
    for name in sorted(now.keys() - was.keys()):
        run("sacctmgr", "-i", "delete", "account", "where", f"name={name}")
    for name, want in was.items():
        held = now.get(name)
        if name == "root" or held is None or held == want:
            continue
        where = ("sacctmgr", "-i", "modify", "account", "where", f"name={name}",
                 f"cluster={cluster}", "set")  # fmt: skip
        if held.parent != want.parent:
            run(*where, f"parent={want.parent}")
        if held.shares != want.shares:
            run(*where, f"fairshare={want.shares}")
        caps, had = dict(want.gpu_caps), dict(held.gpu_caps)
        for tres in sorted(caps.keys() | had.keys()):
            if caps.get(tres) != had.get(tres):
                run(*where, f"GrpTRES={tres}={caps.get(tres, -1)}")  # -1: no cap
    for line in run(*RESERVATIONS).splitlines():
        name = line.split()[0].removeprefix("ReservationName=")
        if name.startswith(OURS):
            run("scontrol", "delete", f"ReservationName={name}")
    return take(run) == before
