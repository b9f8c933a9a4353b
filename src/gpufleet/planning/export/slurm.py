"""Slurm: a shell script of ``sacctmgr`` commands that sets up the account tree and its
limits (run it where ``sacctmgr`` reaches the cluster's slurmdbd).

- an account per entity with programs (child of ``root``) and one per program (child of its
  entity);
- ``Fairshare`` = 100 x the program's weight; an entity's is the sum of its programs', so
  that each program's normalised share is its weight over all weights;
- ``GrpTRES=gres/gpu:<type>=N`` on each program for every GPU type of the plan: N = the
  most GPUs of that type the program can hold under its quota (nominal + borrowing limit,
  capped by what its cohort can lend), 0 for a type it has no quota for. GPU types become
  gres type names: lowercase, the first word (``H100-SXM`` -> ``h100``) unless two types
  share it.

Not mapped: Slurm has no nominal quota that others borrow from and that is reclaimed, so
neither the nominal/borrowing split nor the lending limit survive: the cap is a hard
GrpTRES, sharing below it follows Fairshare. The program's priority (a QOS matter in Slurm)
and cohorts (give each cohort a partition of its entities' nodes) are left to the admin;
the script's header says how.

Syntax: sacctmgr(1) (add account ... parent= description=, modify account where name=...
set fairshare= grptres=), https://slurm.schedmd.com/tres.html (typed gres TRES need
AccountingStorageTRES) and https://slurm.schedmd.com/resource_limits.html (GrpTRES is
enforced with AccountingStorageEnforce=limits).
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Sequence

from gpufleet.errors import InputError
from gpufleet.planning.allocation import Allocation
from gpufleet.planning.export.model import (
    ExportFile,
    GpuLimits,
    QueueView,
    Target,
    View,
    distinct,
    guarded,
    header,
    share,
    sorted_gpus,
    weight_of_share,
)

FILE = "slurm-accounts.sh"
_NOT_NAME = re.compile(r"[^a-z0-9_.-]")
_NOT_GRES = re.compile(r"[^a-z0-9_-]")

PRELUDE = """\
set -eu

# account NAME PARENT DESCRIPTION: add the account unless it exists
account() {
  if [ -z "$(sacctmgr -n -P list account where name="$1" format=account)" ]; then
    sacctmgr -i add account "$1" parent="$2" description="$3"
  fi
}
"""


def account_name(name: str) -> str:
    """Slurm keeps account names in lower case."""
    return _NOT_NAME.sub("_", name.lower())


def gres_names(types: Sequence[str]) -> dict[str, str]:
    """GPU type -> gres type name: the first word, lowercase, unless two types share it."""
    first = {t: _NOT_GRES.sub("_", re.split(r"[-_. ]", t.lower())[0]) for t in types}
    full = {t: _NOT_GRES.sub("_", t.lower()) for t in types}
    uses = Counter(first.values())
    names = {t: first[t] if uses[first[t]] == 1 else full[t] for t in types}
    return distinct(names, "GPU types", "slurm")


def view(alloc: Allocation) -> View:
    """Every program under Slurm's names: its entity, weight to a hundredth, and the cap
    of every GPU type of the plan."""
    gres = gres_names(alloc.gpu_types())
    accounts = {f"entity {e}": account_name(e) for c in alloc.cohorts for e in c.entities}
    accounts.update({f"program {p.name}": account_name(p.name) for p in alloc.programs()})
    distinct(accounts, "accounts", "slurm")
    out: View = {}
    for c in alloc.cohorts:
        for p in c.programs:
            gpus = {g: GpuLimits(None, c.ceiling_gpus(p, t), None) for t, g in gres.items()}
            name = account_name(p.name)
            weight = weight_of_share(share(p.weight))
            out[name] = QueueView(name, account_name(p.entity), weight, None, sorted_gpus(gpus))
    return out


def _notes(alloc: Allocation, gres: dict[str, str]) -> list[str]:
    tres = ",".join(["gres/gpu", *(f"gres/gpu:{g}" for g in gres.values())])
    lines = [
        "",
        "Fairshare = 100 x weight. GrpTRES gres/gpu:<type> = the most GPUs of the type the",
        "program can hold under its quota (nominal + borrowing limit, capped by what its",
        "cohort can lend); Slurm has no nominal quota to borrow from or lending limit.",
        "slurm.conf must track and enforce the typed GPUs:",
        f"  AccountingStorageTRES={tres}",
        "  AccountingStorageEnforce=associations,limits",
        f"gres types: {', '.join(f'{t} -> {g}' for t, g in gres.items()) or 'none'}",
        "Cohorts share no hardware: give each a partition of its entities' nodes, e.g.",
    ]
    for c in alloc.cohorts:
        accounts = ",".join(account_name(e) for e in c.entities)
        lines.append(f"  PartitionName={account_name(c.name)} AllowAccounts={accounts} Nodes=...")
    return lines


def write(alloc: Allocation) -> ExportFile:
    v = view(alloc)
    gres = gres_names(alloc.gpu_types())
    lines = ["#!/bin/sh", header(alloc, "Slurm", _notes(alloc, gres)).rstrip("\n"), PRELUDE]
    for c in alloc.cohorts:
        for e in c.entities:
            mine = [p for p in c.programs if p.entity == e]
            if not mine:
                continue
            acct = account_name(e)
            total = sum(share(p.weight) for p in mine)
            desc = shlex.quote(f"entity {e} (cohort {c.name})")
            lines.append(f"account {acct} root {desc}")
            lines.append(f"sacctmgr -i modify account where name={acct} set fairshare={total}")
            for p in mine:
                q = v[account_name(p.name)]
                tres = ",".join(f"gres/gpu:{g}={lim.max_gpus}" for g, lim in q.gpus)
                setting = f"fairshare={share(p.weight)}" + (f" grptres={tres}" if tres else "")
                lines.append(f"account {q.program} {acct} {shlex.quote(f'program {p.name}')}")
                lines.append(f"sacctmgr -i modify account where name={q.program} set {setting}")
    return ExportFile(FILE, "\n".join(lines) + "\n")


def _settings(words: list[str]) -> tuple[str, dict[str, str]]:
    """``sacctmgr -i modify account where name=X set k=v ...`` -> (X, {k: v})."""
    if words[:5] != ["sacctmgr", "-i", "modify", "account", "where"] or "set" not in words:
        raise InputError(f"slurm: unexpected command {' '.join(words)!r}")
    at = words.index("set")
    name = dict(w.split("=", 1) for w in words[5:at])["name"]
    return name, dict(w.split("=", 1) for w in words[at + 1 :])


@guarded("slurm")
def read(text: str) -> View:
    """The program accounts (children of an entity account) back into programs."""
    if "# gpufleet export for Slurm" not in text:
        raise InputError("slurm: not a gpufleet export (no '# gpufleet export for Slurm' line)")
    parent: dict[str, str] = {}
    settings: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["account"] and len(words) == 4:
            parent[words[1]] = words[2]
        elif words[:3] == ["sacctmgr", "-i", "modify"]:
            name, values = _settings(words)
            settings.setdefault(name, {}).update(values)
    out: View = {}
    for name, up in parent.items():
        if up == "root":
            continue
        values = settings.get(name, {})
        gpus = {}
        for item in filter(None, values.get("grptres", "").split(",")):
            tres, n = item.split("=")
            gpus[tres.removeprefix("gres/gpu:")] = GpuLimits(None, int(n), None)
        weight = weight_of_share(int(values["fairshare"]))
        out[name] = QueueView(name, up, weight, None, sorted_gpus(gpus))
    return out


TARGET = Target("slurm", "Slurm sacctmgr script: accounts, Fairshare, GrpTRES", view, write, read)
