"""Drift: what a Slurm cluster enforces that the register does not say, with who changed
it and when where Slurm's accounting recorded it.

A drift is a difference between the cluster and the desired state at now that no
schedule explains (:func:`gpufleet.live.enact.schedule.split`). Its author comes from
slurmdbd's transaction log: ``sacctmgr -P -n list transactions Start=T
format=Time,Action,Actor,Where,Info`` lists each change of the accounting with its time,
the Unix user who made it and the rows it touched, an association as ``id_assoc=N``
(https://slurm.schedmd.com/sacctmgr.html, "LIST/SHOW TRANSACTIONS"); the association's
id comes from ``sacctmgr -P -n show assoc format=ID,...``. The latest "Modify
Associations" transaction on the account's own association whose text names the
attribute (``grp_tres`` for a GPU cap, ``shares`` for fair-share, ``parent``/``lft`` for
a parent) is the author; none found: who and when are unknown, and said so. Reservations
have no such log (``scontrol`` changes are not in slurmdbd's transactions): a drift of a
``gpufleet-*`` reservation has no author.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gpufleet.live.enact.diff import Change, ReservationSpec
from gpufleet.live.enact.model import FAIRSHARE, PARENT
from gpufleet.live.runner import CommandRunner

LOOKBACK = timedelta(days=30)
"""How far back the transaction log is searched for a drift's author."""
_ID_ASSOC = re.compile(r"id_assoc\s*=\s*(\d+)")
_WORDS = {FAIRSHARE: ("shares",), PARENT: ("parent", "lft")}


@dataclass(frozen=True)
class Transaction:
    at: datetime  # the accounting's clock, as sacctmgr prints it (the cluster's local time)
    action: str
    actor: str
    assoc_ids: tuple[int, ...]
    info: str


@dataclass(frozen=True)
class DriftFinding:
    """One difference the schedule does not explain: the cluster holds ``found``, the
    register says ``desired``; ``actor``/``changed_at`` from Slurm's log (None: not
    recorded there)."""

    cluster: str
    target: str
    attribute: str
    found: object
    desired: object
    actor: str | None
    changed_at: str | None

    @property
    def key(self) -> str:
        """What makes two findings the same drift (audited once)."""
        return f"{self.target}|{self.attribute}|{self.found}|{self.changed_at}"

    def text(self) -> str:
        what = f"{self.target} {self.attribute}".strip()
        who = (
            f"changed by {self.actor} at {self.changed_at}"
            if self.actor
            else "who changed it is not recorded by Slurm"
        )
        return (
            f"{self.cluster}: {what} is {_show(self.found)}, the register says "
            f"{_show(self.desired)} ({who})"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": "enact-drift",
            "cluster": self.cluster,
            "target": self.target,
            "attribute": self.attribute,
            "found": _plain(self.found),
            "desired": _plain(self.desired),
            "actor": self.actor,
            "changed_at": self.changed_at,
            "text": self.text(),
        }


def _plain(v: object) -> object:
    return v.__dict__ if isinstance(v, ReservationSpec) else v


def _show(v: object) -> str:
    if v is None:
        return "none"
    if isinstance(v, ReservationSpec):
        return f"{','.join(v.accounts)} on {v.nodes} {v.start} -> {v.end}"
    return str(v)


def parse_transactions(text: str) -> tuple[Transaction, ...]:
    """``sacctmgr -P -n list transactions format=Time,Action,Actor,Where,Info``."""
    out = []
    for line in text.splitlines():
        parts = line.split("|", 4)
        if len(parts) != 5:
            continue
        try:
            at = datetime.fromisoformat(parts[0])
        except ValueError:
            continue
        ids = tuple(int(m) for m in _ID_ASSOC.findall(parts[3]))
        out.append(Transaction(at, parts[1], parts[2], ids, parts[4]))
    return tuple(out)


def parse_assoc_ids(text: str, cluster: str) -> dict[str, int]:
    """``sacctmgr -P -n show assoc format=ID,Cluster,Account,User,Partition``: each
    account's own association id on ``cluster``."""
    out = {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) >= 5 and parts[1] == cluster and parts[3] == "" and parts[4] == "":
            out[parts[2]] = int(parts[0])
    return out


def author(
    change: Change, assoc_ids: dict[str, int], log: Iterable[Transaction]
) -> Transaction | None:
    """The latest association change on the account's own association that names the
    attribute (a GPU cap: ``grp_tres``)."""
    assoc = assoc_ids.get(change.target)
    if assoc is None:
        return None
    words = _WORDS.get(change.attribute, ("grp_tres",))
    hits = [
        t
        for t in log
        if t.action == "Modify Associations"
        and assoc in t.assoc_ids
        and any(w in t.info for w in words)
    ]
    return max(hits, key=lambda t: t.at) if hits else None


def findings(
    cluster: str, drift: Iterable[Change], assoc_ids: dict[str, int], log: Iterable[Transaction]
) -> tuple[DriftFinding, ...]:
    log = tuple(log)
    out = []
    for c in drift:
        t = author(c, assoc_ids, log)
        out.append(
            DriftFinding(
                cluster,
                c.target,
                c.attribute,
                c.before,
                c.after,
                t.actor if t else None,
                t.at.isoformat() if t else None,
            )
        )
    return tuple(out)


def read_findings(
    runner: CommandRunner, cluster: str, drift: tuple[Change, ...], at: datetime
) -> tuple[DriftFinding, ...]:
    """Ask the accounting for the authors of ``drift`` (nothing asked when there is none)."""
    if not drift:
        return ()
    since = (at - LOOKBACK).replace(microsecond=0).isoformat()
    log = runner.run(
        ["sacctmgr", "-P", "-n", "list", "transactions", f"Start={since}",
         "format=Time,Action,Actor,Where,Info"]
    )  # fmt: skip
    ids = runner.run(
        ["sacctmgr", "-P", "-n", "show", "assoc", f"cluster={cluster}",
         "format=ID,Cluster,Account,User,Partition"]
    )  # fmt: skip
    return findings(cluster, drift, parse_assoc_ids(ids, cluster), parse_transactions(log))
