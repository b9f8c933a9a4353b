"""Each change as the Slurm command that makes it and the one that undoes it exactly
(``sacctmgr -i``: no confirmation prompt; ``scontrol``), computed before anything runs
so that the journal holds every inverse first. Commands are argv lists, never a shell
line; every name in them was checked by :mod:`.desired` (``[a-z0-9_.-]``) or chosen by
gpufleet, so none can smuggle a second ``set``.

Commands, from https://slurm.schedmd.com/sacctmgr.html and scontrol.html:
``sacctmgr -i add account NAME parent=P cluster=C`` / ``delete account where name=NAME
cluster=C``; ``sacctmgr -i modify account where name=A cluster=C set parent=P |
fairshare=N | GrpTRES=gres/gpu=N`` (``-1`` clears a TRES limit, the others kept);
``scontrol create|update|delete reservation``.
"""

from __future__ import annotations

from datetime import datetime

from gpufleet.live.enact.diff import Change, Kind, ReservationSpec
from gpufleet.live.enact.model import FAIRSHARE, PARENT, Value

Argv = tuple[str, ...]


def _modify(cluster: str, account: str, attribute: str, value: Value) -> Argv:
    if attribute == PARENT:
        setting = f"parent={value}"
    elif attribute == FAIRSHARE:
        setting = f"fairshare={'parent' if value is None else value}"
    else:
        setting = f"GrpTRES={attribute}={-1 if value is None else value}"
    where = ("where", f"name={account}", f"cluster={cluster}")
    return ("sacctmgr", "-i", "modify", "account", *where, "set", setting)


def _start(spec: ReservationSpec, at: datetime) -> str:
    """A window that has begun starts now (Slurm refuses a start in the past)."""
    return "now" if spec.start <= at.isoformat() else spec.start


def _reservation(verb: str, name: str, spec: ReservationSpec, at: datetime) -> Argv:
    argv = ["scontrol", verb, "reservation", f"ReservationName={name}"]
    argv += [f"Accounts={','.join(spec.accounts)}", f"Nodes={spec.nodes}"]
    if verb == "create":
        argv += [f"StartTime={_start(spec, at)}", "Flags=IGNORE_JOBS"]
    argv.append(f"EndTime={spec.end}")
    return tuple(argv)


def forward_and_inverse(c: Change, cluster: str, at: datetime) -> tuple[Argv, Argv]:
    """The command that makes ``c`` and the one that restores its ``before``. ``at``:
    the instant (naive UTC) the reservations' starts are compared with."""
    if c.kind is Kind.ADD_ACCOUNT:
        fwd = (
            "sacctmgr",
            "-i",
            "add",
            "account",
            c.target,
            f"parent={c.after}",
            f"cluster={cluster}",
        )
        inv = (
            "sacctmgr",
            "-i",
            "delete",
            "account",
            "where",
            f"name={c.target}",
            f"cluster={cluster}",
        )
        return fwd, inv
    if c.kind is Kind.SET:
        return (
            _modify(cluster, c.target, c.attribute, _value(c.after)),
            _modify(cluster, c.target, c.attribute, _value(c.before)),
        )
    delete = ("scontrol", "delete", f"ReservationName={c.target}")
    if c.kind is Kind.CREATE_RESERVATION:
        assert isinstance(c.after, ReservationSpec)
        return _reservation("create", c.target, c.after, at), delete
    if c.kind is Kind.DELETE_RESERVATION:
        assert isinstance(c.before, ReservationSpec)
        return delete, _reservation("create", c.target, c.before, at)
    assert isinstance(c.before, ReservationSpec) and isinstance(c.after, ReservationSpec)
    return _reservation("update", c.target, c.after, at), _reservation(
        "update", c.target, c.before, at
    )


def _value(v: Value | ReservationSpec) -> Value:
    assert not isinstance(v, ReservationSpec)
    return v
