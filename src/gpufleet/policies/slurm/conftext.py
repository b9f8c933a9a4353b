"""A :class:`~gpufleet.policies.slurm.setup.SlurmSetup` from Slurm's own text.

Four inputs, any of which may be left out:

- ``slurm.conf`` or the output of ``scontrol show config`` (both ``Key=Value`` lines, keys
  case-insensitive as Slurm reads them): ``PriorityWeight{Age,FairShare,JobSize,QOS,
  Partition}``, ``PriorityMaxAge``, ``PriorityDecayHalfLife``, ``PriorityCalcPeriod``
  (minutes in slurm.conf, a duration in scontrol's output), ``PriorityFavorSmall`` and
  ``SchedulerParameters``' ``sched_interval``, ``sched_min_interval`` (microseconds),
  ``bf_interval``, ``bf_max_job_test``,
  ``bf_resolution``, ``bf_window`` (minutes). Unset keys keep Slurm's defaults
  (slurm.conf(5) for 22.05: weights 0, max age and half-life 7 days, calc period 5
  minutes, sched_interval 60 s, sched_min_interval 2 microseconds, bf_interval 30 s,
  bf_max_job_test 500, bf_resolution 60 s, bf_window 1440 minutes).
- ``sacctmgr -P show assoc format=Cluster,Account,User,Partition,ParentName,Share,GrpJobs,
  GrpTRES,MaxJobs,MaxTRES,QOS,DefaultQOS`` (``|``-separated with a header): the account
  tree with each account's ``Share``, and each account's ``GrpTRES`` (``gres/gpu=N``,
  ``gres/gpu:TYPE=N``), ``MaxTRES`` (``gres/gpu=N``) and ``GrpJobs``. An account whose
  children are only users is a leaf (a gpufleet program: jobs carry no Slurm user); users
  of an account that also has sub-accounts stay leaves named ``account/user``.
- ``sshare -P -a -l``: Slurm's own ``FairShare`` per user row, taken per account as the
  highest of its users' (the user ranked first), and each account's ``RawUsage`` divided
  by ``billing_per_gpu`` (a partition's ``TRESBillingWeights`` for ``GRES/gpu``) as its
  usage in GPU-seconds.
- ``sacctmgr -P show qos format=Name,Priority,Flags,GrpTRES,GrpJobs,MaxTRES,MaxTRESPerUser,
  MaxJobsPerUser`` (or plain ``sacctmgr -P show qos``, whose header names the last two
  ``MaxTRESPU``, ``MaxJobsPU``): each QOS's limits (:class:`~gpufleet.policies.slurm.
  setup.QosLimits`).

Every error is an :class:`~gpufleet.errors.InputError` naming the file, the line and
what would be right.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gpufleet.errors import InputError
from gpufleet.policies.slurm.setup import ROOT, Account, AssocLimits, QosLimits, SlurmSetup

_WEIGHTS = {
    "priorityweightage": "weight_age",
    "priorityweightfairshare": "weight_fairshare",
    "priorityweightjobsize": "weight_job_size",
    "priorityweightqos": "weight_qos",
    "priorityweightpartition": "weight_partition",
}
_DURATIONS = {
    "prioritymaxage": "max_age_s",
    "prioritydecayhalflife": "decay_half_life_s",
    "prioritycalcperiod": "calc_period_s",
}
_SCHED = {  # SchedulerParameters key -> (field, seconds per unit)
    "sched_interval": ("sched_interval_s", 1.0),
    "sched_min_interval": ("sched_min_interval_s", 1e-6),  # microseconds in 22.05
    "bf_interval": ("bf_interval_s", 1.0),
    "bf_resolution": ("bf_resolution_s", 1.0),
    "bf_window": ("bf_window_s", 60.0),
}


@dataclass(frozen=True)
class _Line:
    source: str
    number: int

    def fail(self, what: str, expected: str) -> InputError:
        return InputError(f"{self.source}:{self.number}: {what} (expected {expected})")


def slurm_time_s(value: str, at: _Line) -> float | None:
    """Slurm's time format (slurm.conf(5): "minutes", "minutes:seconds",
    "hours:minutes:seconds", "days-hours", "days-hours:minutes",
    "days-hours:minutes:seconds"), plus scontrol's ``N sec``; None for
    NONE/INFINITE/UNLIMITED."""
    text = value.strip()
    if text.upper() in ("NONE", "INFINITE", "UNLIMITED"):
        return None
    m = re.fullmatch(r"(\d+) sec", text)
    if m:
        return float(m.group(1))
    m = re.fullmatch(r"(?:(\d+)-)?(\d+(?::\d+){0,2})", text)
    if not m:
        raise at.fail(f"{value!r} is not a Slurm time", "MM, MM:SS, HH:MM:SS or D-HH[:MM[:SS]]")
    days = int(m.group(1) or 0)
    parts = [int(p) for p in m.group(2).split(":")]
    if m.group(1) is not None:  # days-hours[:minutes[:seconds]]
        parts += [0] * (3 - len(parts))
        h, mi, s = parts
    elif len(parts) == 1:
        h, mi, s = 0, parts[0], 0
    elif len(parts) == 2:
        h, mi, s = 0, parts[0], parts[1]
    else:
        h, mi, s = parts
    return float(((days * 24 + h) * 60 + mi) * 60 + s)


def _number(value: str, at: _Line, key: str) -> float:
    try:
        out = float(value)
    except ValueError:
        raise at.fail(f"{key}: {value!r} is not a number", "a number >= 0") from None
    if not math.isfinite(out) or out < 0:
        raise at.fail(f"{key}: {value!r} is not a number >= 0", "a number >= 0")
    return out


def _conf_pairs(source: str, text: str) -> list[tuple[str, str, _Line]]:
    """(lower-case key, value, where) of every ``Key=Value`` or ``Key = Value`` line;
    ``NodeName``/``PartitionName`` lines and comments are left out."""
    out: list[tuple[str, str, _Line]] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("Configuration data as of"):
            continue
        m = re.match(r"^([A-Za-z_][\w/]*)\s*=\s*(.*)$", line)
        if m is None:
            continue  # scontrol's section headers and plugin blurbs
        key = m.group(1).lower()
        if key in ("nodename", "partitionname", "nodeset", "frontendname", "downnodes"):
            continue
        out.append((key, m.group(2).strip(), _Line(source, n)))
    return out


def read_config(source: str, text: str, base: SlurmSetup | None = None) -> SlurmSetup:
    """The priority and scheduler settings of a ``slurm.conf`` or ``scontrol show config``
    text over ``base`` (Slurm's defaults when None). slurm.conf gives PriorityCalcPeriod
    in minutes; scontrol prints a duration (``00:05:00``)."""
    setup = base or SlurmSetup()
    changes: dict[str, Any] = {}
    seen: set[str] = set()
    for key, value, at in _conf_pairs(source, text):
        if key in seen:
            continue  # scontrol: the main section comes first; slurm.conf: first wins too
        seen.add(key)
        if value in ("(null)", ""):
            continue
        if key in _WEIGHTS:
            changes[_WEIGHTS[key]] = _number(value, at, key)
        elif key in _DURATIONS:
            secs = slurm_time_s(value, at)
            if key == "prioritydecayhalflife" and secs is None:
                secs = 0.0  # no decay
            if secs is None:
                raise at.fail(f"{key}: {value!r}", "a time")
            changes[_DURATIONS[key]] = secs
        elif key == "priorityfavorsmall":
            changes["favor_small"] = value.lower() in ("yes", "1", "true")
        elif key == "schedulerparameters":
            _scheduler(changes, value, at)
    setup = replace(setup, **changes)
    setup.check(source)
    return setup


def _scheduler(changes: dict[str, Any], value: str, at: _Line) -> None:
    for item in value.split(","):
        key, _, v = item.strip().partition("=")
        if key == "bf_max_job_test" or key in _SCHED:
            least = 0 if key == "sched_min_interval" else 1
            if not v.isdigit() or int(v) < least:
                raise at.fail(f"SchedulerParameters {key}={v!r}", f"a whole number >= {least}")
            if key == "bf_max_job_test":
                changes["bf_max_job_test"] = int(v)
            else:
                name, unit = _SCHED[key]
                changes[name] = int(v) * unit


# --- sacctmgr and sshare --------------------------------------------------------------
def _pipe_rows(
    source: str, text: str, required: tuple[str, ...]
) -> list[tuple[dict[str, str], _Line]]:
    lines = [(n, ln) for n, ln in enumerate(text.splitlines(), start=1) if ln.strip()]
    if not lines:
        raise InputError(f"{source}: empty (expected a '|'-separated header line)")
    head = [h.strip() for h in lines[0][1].split("|")]
    missing = [c for c in required if c not in head]
    if missing:
        raise _Line(source, lines[0][0]).fail(
            "header lacks " + ", ".join(missing), "columns " + ", ".join(required)
        )
    rows = []
    for n, ln in lines[1:]:
        cells = ln.split("|")
        if len(cells) < len(head):
            raise _Line(source, n).fail(f"{len(cells)} columns", f"{len(head)} as the header")
        rows.append(({h: c.strip() for h, c in zip(head, cells, strict=False)}, _Line(source, n)))
    return rows


def _gpu_tres(value: str, at: _Line, column: str) -> dict[str | None, int]:
    """``gres/gpu=4,gres/gpu:h100=8,cpu=64`` -> {None: 4, "h100": 8}; other TRES left."""
    out: dict[str | None, int] = {}
    for item in (v for v in value.split(",") if v):
        name, _, count = item.partition("=")
        if not name.startswith("gres/gpu"):
            continue
        if not count.isdigit():
            raise at.fail(f"{column}: {item!r} count is not whole", "gres/gpu[:TYPE]=N")
        typ = name[len("gres/gpu:") :] if name.startswith("gres/gpu:") else None
        if name not in ("gres/gpu",) and typ is None:
            raise at.fail(f"{column}: {item!r}", "gres/gpu=N or gres/gpu:TYPE=N")
        out[typ] = int(count)
    return out


def _whole_or_none(value: str, at: _Line, column: str) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise at.fail(f"{column}: {value!r} is not whole", "a whole number or empty")
    return int(value)


@dataclass
class _TreeBuilder:
    shares: dict[str, float] = field(default_factory=dict)
    parent: dict[str, str] = field(default_factory=dict)
    users: dict[str, list[str]] = field(default_factory=dict)

    def build(self) -> dict[str, Account]:
        kids: dict[str, list[str]] = {a: [] for a in self.shares}
        for a, p in self.parent.items():
            kids.setdefault(p, []).append(a)
        tree: dict[str, Account] = {}
        for a, sh in self.shares.items():
            subs = kids.get(a, [])
            if subs:  # its users stay leaves of their own beside its accounts
                users = [f"{a}/{u}" for u in self.users.get(a, [])]
                tree.update({u: Account(u, 1.0) for u in users})
                tree[a] = Account(a, sh, tuple(subs) + tuple(users))
            else:
                tree[a] = Account(a, sh)
        return tree


def read_associations(source: str, text: str, base: SlurmSetup | None = None) -> SlurmSetup:
    """Limits and the fair-share tree from ``sacctmgr -P show assoc`` over ``base``."""
    need = ("Account", "User", "ParentName", "Share", "GrpJobs", "GrpTRES", "MaxTRES")
    builder, limits = _TreeBuilder(), {}
    users: dict[str, dict[str, AssocLimits]] = {}
    for row, at in _pipe_rows(source, text, need):
        account, user = row["Account"], row["User"]
        if user:
            builder.users.setdefault(account, []).append(user)
            if not (own := _assoc_limits(row, at)).empty:
                users.setdefault(account, {})[user] = own
            continue
        share = row["Share"]
        builder.shares[account] = 1.0 if share.lower() == "parent" else _number(share, at, "Share")
        if account != ROOT:
            if not row["ParentName"]:
                raise at.fail(f"account {account!r} has no ParentName", "its parent account")
            builder.parent[account] = row["ParentName"]
        if not (lim := _assoc_limits(row, at)).empty:
            limits[account] = lim
    if ROOT not in builder.shares:
        raise InputError(f"{source}: no association row for account 'root' (expected one)")
    tree = builder.build()
    setup = replace(base or SlurmSetup(), limits=limits, user_limits=users, tree=tree)
    setup.check(source)
    return setup


def _assoc_limits(row: dict[str, str], at: _Line) -> AssocLimits:
    return AssocLimits(
        grp_gpus=_gpu_tres(row["GrpTRES"], at, "GrpTRES"),
        max_gpus_per_job=_gpu_tres(row["MaxTRES"], at, "MaxTRES").get(None),
        grp_jobs=_whole_or_none(row["GrpJobs"], at, "GrpJobs"),
    )


def read_qos(source: str, text: str, base: SlurmSetup | None = None) -> SlurmSetup:
    """Each QOS's limits from ``sacctmgr -P show qos`` over ``base``."""
    head = {h.strip() for h in text.lstrip().split("\n", 1)[0].split("|")}
    pu = ("MaxTRESPU", "MaxJobsPU") if "MaxTRESPU" in head else ("MaxTRESPerUser", "MaxJobsPerUser")
    need = ("Name", "GrpTRES", "GrpJobs", "MaxTRES", *pu)
    out: dict[str, QosLimits] = {}
    for row, at in _pipe_rows(source, text, need):
        if not row["Name"]:
            raise at.fail("a QOS row without a Name", "the QOS's name in the first column")
        q = QosLimits(
            grp_gpus=_gpu_tres(row["GrpTRES"], at, "GrpTRES"),
            grp_jobs=_whole_or_none(row["GrpJobs"], at, "GrpJobs"),
            max_gpus_per_job=_gpu_tres(row["MaxTRES"], at, "MaxTRES").get(None),
            max_gpus_per_user=_gpu_tres(row[pu[0]], at, pu[0]),
            max_jobs_per_user=_whole_or_none(row[pu[1]], at, pu[1]),
        )
        out[row["Name"]] = q
    return replace(base or SlurmSetup(), qos={k: q for k, q in out.items() if not q.empty})


def read_sshare(
    source: str, text: str, base: SlurmSetup | None = None, billing_per_gpu: float = 1.0
) -> SlurmSetup:
    """Slurm's factors and usage from ``sshare -P -a -l`` over ``base``."""
    factors: dict[str, float] = {}
    usage: dict[str, float] = {}
    for row, at in _pipe_rows(source, text, ("Account", "User", "RawUsage", "FairShare")):
        account, user = row["Account"].strip(), row["User"]
        if user:
            if row["FairShare"]:
                f = _number(row["FairShare"], at, "FairShare")
                factors[account] = max(factors.get(account, 0.0), f)
        elif account != ROOT:
            usage[account] = _number(row["RawUsage"], at, "RawUsage") / billing_per_gpu
    return replace(base or SlurmSetup(), fairshare=factors, usage_gpu_s=usage)


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as e:
        raise InputError(f"{what} {path!r}: cannot be read ({e.strerror})") from None


def read_setup_files(
    conf: str = "", assoc: str = "", sshare: str = "", qos: str = ""
) -> SlurmSetup | None:
    """The setup from the files named (each "" for none); None when none is named."""
    if not (conf or assoc or sshare or qos):
        return None
    setup = SlurmSetup()
    steps: list[tuple[str, Callable[[str, str, SlurmSetup], SlurmSetup]]] = [
        (conf, read_config),
        (assoc, read_associations),
        (sshare, read_sshare),
        (qos, read_qos),
    ]
    for path, reader in steps:
        if path:
            setup = reader(path, _read(path, "Slurm file"), setup)
    return setup


def setup_from_texts(
    config: str = "",
    associations: str = "",
    sshare: str = "",
    billing_per_gpu: float = 1.0,
    source: str = "slurm",
    qos: str = "",
) -> SlurmSetup:
    """The setup from the outputs a live reader already holds (each "" for none): ``scontrol
    show config``, ``sacctmgr -P show assoc format=...``, ``sshare -P -a -l`` and ``sacctmgr
    -P show qos``; errors
    name ``source`` and the command."""
    setup = SlurmSetup()
    if config:
        setup = read_config(f"{source}: scontrol show config", config, setup)
    if associations:
        setup = read_associations(f"{source}: sacctmgr show assoc", associations, setup)
    if sshare:
        setup = read_sshare(f"{source}: sshare", sshare, setup, billing_per_gpu)
    if qos:
        setup = read_qos(f"{source}: sacctmgr show qos", qos, setup)
    return setup
