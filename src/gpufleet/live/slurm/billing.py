"""Slurm's billing weights per partition, and what one GPU-second is in its usage units.

Slurm's fair-share usage (sshare's ``RawUsage``) is not in CPU- or GPU-seconds but in
*billing* units: each second a job runs adds its billable TRES, which the job's partition
computes from its ``TRESBillingWeights`` as the sum over the job's TRES of count x weight
(``CPU=1.0,GRES/gpu=10.0``: a job of 2 CPUs and 3 GPUs bills 2 + 30 = 32 a second); a
partition without weights bills the job's CPUs; with ``PriorityFlags=MAX_TRES`` the node
TRES are not summed but the largest taken (https://slurm.schedmd.com/tres.html,
"TRESBillingWeights"; https://slurm.schedmd.com/priority_multifactor.html, the usage that
decays is the billable TRES times the run seconds). A GPU of type T tracked both as
``gres/gpu`` and ``gres/gpu:T`` (AccountingStorageTRES) bills both weights.

Read from ``scontrol show partition -o`` (one partition a line, ``Key=value`` pairs, the
same in 22.05 and later). :func:`gpu_billing` turns the GPU partitions' weights into the
one factor the forecast divides ``RawUsage`` by, with notes where that is not exact.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from gpufleet.live.errors import SourceError
from gpufleet.live.runner import CommandRunner, command_text

SCONTROL_PARTITIONS = ("scontrol", "show", "partition", "-o")
# a weight's suffix scales it per MB (slurm.conf, TRESBillingWeights: "mem=.25G" on 8 GB
# bills 8192 MB x .25 / 1024 = 2); no suffix: per unit as Slurm counts it (MB for memory)
_SUFFIX = {"": 1.0, "K": 1024.0, "M": 1.0, "G": 1 / 1024, "T": 1 / 1024**2, "P": 1 / 1024**3}
_WEIGHT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([KMGTP]?)", re.IGNORECASE)


@dataclass(frozen=True)
class PartitionBilling:
    """A partition's ``TRESBillingWeights``: TRES name (lower case, ``gres/gpu``,
    ``gres/gpu:h100``, ``cpu``) -> weight per unit; empty where the partition sets none
    (Slurm then bills the job's CPUs)."""

    partition: str
    weights: Mapping[str, float]

    def gpu_weight(self, gpu_type: str | None = None) -> float:
        """Billing units a second of one GPU of ``gpu_type`` adds: ``GRES/gpu``'s weight
        plus ``GRES/gpu:TYPE``'s (a typed GPU is tracked as both)."""
        typed = self.weights.get(f"gres/gpu:{gpu_type.lower()}", 0.0) if gpu_type else 0.0
        return self.weights.get("gres/gpu", 0.0) + typed


def read_partitions(runner: CommandRunner) -> tuple[PartitionBilling, ...]:
    """Every partition's billing weights (``SourceError`` naming the line and field)."""
    return parse_partitions(command_text(SCONTROL_PARTITIONS), runner.run(SCONTROL_PARTITIONS))


def parse_partitions(source: str, text: str) -> tuple[PartitionBilling, ...]:
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        pairs = dict(p.split("=", 1) for p in line.split() if "=" in p)
        name = pairs.get("PartitionName")
        if not name:
            raise SourceError(source, "PartitionName", "is missing", "a partition's name", n)
        weights = _weights(source, n, pairs.get("TRESBillingWeights", ""))
        out.append(PartitionBilling(name, weights))
    return tuple(out)


def _weights(source: str, line: int, text: str) -> dict[str, float]:
    """``CPU=1.0,Mem=0.25G,GRES/gpu=10.0`` -> {"cpu": 1.0, "mem": 0.25 / 1024, ...}."""
    if text in ("", "(null)"):
        return {}
    out: dict[str, float] = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        m = _WEIGHT.fullmatch(value.strip())
        if not name or m is None:
            raise SourceError(
                source,
                "TRESBillingWeights",
                f"{item!r} is not a TRES and its weight",
                "TRES=number with an optional K, M, G, T or P, e.g. GRES/gpu=10.0",
                line,
            )
        weight = float(m.group(1)) * _SUFFIX[m.group(2).upper()]
        if not math.isfinite(weight):
            raise SourceError(source, "TRESBillingWeights", f"{item!r}", "a finite weight", line)
        out[name.strip().lower()] = weight
    return out


@dataclass(frozen=True)
class GpuBilling:
    """Slurm's usage units per GPU-second (1.0 where they cannot be read: RawUsage is then
    taken as GPU-seconds), and what the forecast's notes say about it."""

    usage_per_gpu_s: float
    notes: tuple[str, ...]


def gpu_billing(
    partitions: Sequence[PartitionBilling] | None,
    gpus: Mapping[tuple[str, str | None], int],
    priority_flags: Collection[str] = (),
    why_not: str = "",
) -> GpuBilling:
    """The one factor from billing units to GPU-seconds over the partitions that hold GPUs
    (``gpus``: GPUs per (partition, GPU type)). Exact when every GPU bills the same weight;
    else the weight of the most GPUs, said in the notes, as is a partition without weights
    (its GPUs add no usage) and the CPUs' share of the billing."""
    if partitions is None:
        return GpuBilling(1.0, (_unread(why_not),))
    by_name = {p.partition: p for p in partitions}
    weight_gpus: dict[float, int] = {}
    notes: list[str] = []
    for (name, gpu_type), n in sorted(gpus.items(), key=str):
        p = by_name.get(name)
        if p is None or not p.weights:
            what = "is not listed by scontrol" if p is None else "sets no TRESBillingWeights"
            notes.append(
                f"partition {name} {what}: Slurm bills its jobs by their CPUs, so its "
                f"{n} GPUs add no GPU usage to RawUsage"
            )
            continue
        w = p.gpu_weight(gpu_type)
        weight_gpus[w] = weight_gpus.get(w, 0) + n
    priced = {w: n for w, n in weight_gpus.items() if w > 0}
    if not priced:
        notes.append(_unread("no GPU partition bills GRES/gpu"))
        return GpuBilling(1.0, tuple(notes))
    factor = max(priced, key=lambda w: (priced[w], w))
    notes.append(_converted(factor, partitions, priority_flags))
    if len(priced) > 1:
        said = ", ".join(f"{w:g} ({n} GPUs)" for w, n in sorted(priced.items()))
        notes.append(
            f"GPUs bill different weights ({said}): an account's RawUsage mixes them, and "
            f"is divided by {factor:g}, the weight of the most GPUs (not exact)"
        )
    return GpuBilling(factor, tuple(notes))


def _unread(why: str) -> str:
    return (
        f"the partitions' GPU billing weights could not be read ({why}): sshare's RawUsage "
        "is taken as GPU-seconds (multiply by the GRES/gpu weight if it is not 1)"
    )


def _converted(
    factor: float, partitions: Sequence[PartitionBilling], flags: Collection[str]
) -> str:
    cpu = {p.weights.get("cpu", 0.0) for p in partitions if p.weights}
    said = (
        f"sshare's RawUsage is in billing units: a GPU-second bills {factor:g} "
        f"(TRESBillingWeights), so usage is RawUsage / {factor:g} GPU-seconds"
    )
    if "MAX_TRES" in {f.upper() for f in flags}:
        return said + "; PriorityFlags=MAX_TRES bills a node's largest TRES, not the sum"
    if any(w > 0 for w in cpu):
        cpus = ", ".join(f"{w:g}" for w in sorted(cpu) if w > 0)
        return (
            f"{said}; the jobs' CPUs bill too (CPU={cpus}): each CPU-second counts as "
            f"{min(w for w in cpu if w > 0) / factor:g} GPU-second in it"
        )
    return said
