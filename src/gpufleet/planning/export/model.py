"""What every export shares: the file it writes, the view of an allocation that a
scheduler's configuration can hold (which its importer reads back), and names the targets
accept.

A target is three functions: ``view`` (the allocation as the scheduler can state it: what it
keeps, under the names it uses), ``write`` (that view as the scheduler's configuration
file) and ``read`` (the file back into the view). ``read(write(a).text) == view(a)`` is the
round trip the tests check; what ``view`` drops is what does not map (docs/exports.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml

from gpufleet.errors import InputError
from gpufleet.planning.allocation import Allocation

# the extended resource the NVIDIA device plugin advertises for a whole GPU
GPU_RESOURCE = "nvidia.com/gpu"
# annotations that carry gpufleet's own names on Kubernetes objects, whose names are slugs
ANN_PROGRAM = "gpufleet.io/program"
ANN_ENTITY = "gpufleet.io/entity"
ANN_COHORT = "gpufleet.io/cohort"
ANN_GPU_TYPE = "gpufleet.io/gpu-type"
MANAGED_BY = {"app.kubernetes.io/managed-by": "gpufleet"}


@dataclass(frozen=True)
class ExportFile:
    name: str
    text: str


@dataclass(frozen=True)
class GpuLimits:
    """One program's GPUs of one type as a scheduler's configuration states them.

    ``nominal_gpus``: its own (deserved, guaranteed-if-needed) GPUs; ``max_gpus``: the most
    it may hold, ``None`` for no bound; ``lendable_gpus``: how many of its unused nominal
    GPUs others may use. ``None`` in ``nominal_gpus`` or ``lendable_gpus``: the scheduler has
    no such field."""

    nominal_gpus: int | None
    max_gpus: int | None
    lendable_gpus: int | None


@dataclass(frozen=True)
class QueueView:
    """One program as a target holds it: its parent (cohort, or entity for Slurm), weight
    and priority (``None`` where the target has no field for them) and GPUs per type,
    sorted by type name."""

    program: str
    parent: str
    weight: float | None
    priority: int | None
    gpus: tuple[tuple[str, GpuLimits], ...]


View = dict[str, QueueView]


@dataclass(frozen=True)
class Target:
    name: str
    summary: str
    view: Callable[[Allocation], View]
    write: Callable[[Allocation], ExportFile]
    read: Callable[[str], View]


_NOT_LABEL = re.compile(r"[^a-z0-9-]+")


def k8s_name(name: str) -> str:
    """A DNS-1123 label (lowercase letters, digits and '-', at most 63, alphanumeric at both
    ends) for a gpufleet name: what Kubernetes accepts as a namespace or object name."""
    slug = _NOT_LABEL.sub("-", name.lower()).strip("-")[:63].strip("-")
    return slug or "x"


def distinct(names: Mapping[str, str], what: str, target: str) -> dict[str, str]:
    """``names`` (gpufleet name -> target name) unchanged, or an error naming two gpufleet
    names that the target's naming rules would merge."""
    seen: dict[str, str] = {}
    for ours, theirs in names.items():
        if theirs in seen and seen[theirs] != ours:
            raise InputError(
                f"{target}: {what} {seen[theirs]!r} and {ours!r} both become {theirs!r} under "
                f"{target}'s naming rules; rename one of them in the scenario"
            )
        seen[theirs] = ours
    return dict(names)


def quantity(x: float) -> int | str:
    """A number as a Kubernetes quantity: an integer when whole, else its decimal string."""
    return int(x) if float(x).is_integer() else repr(float(x))


def number(x: float) -> int | float:
    """A plain YAML number, integral when whole."""
    return int(x) if float(x).is_integer() else float(x)


def parse_quantity(v: Any) -> float:
    """The value of a plain decimal quantity (``2``, ``"1.5"``); suffixes are not written by
    gpufleet and are refused here."""
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise InputError(f"{v!r} is not a quantity")
    f = float(v)
    if not math.isfinite(f):
        raise InputError(f"{v!r} is not a finite quantity")
    return f


def share(weight: float) -> int:
    """A weight as an integer share for targets with integer weights: 100 x weight (at
    least 1). ``weight_of_share`` reverses it to 1/100."""
    return max(1, round(weight * 100))


def weight_of_share(s: int) -> float:
    return s / 100


def header(alloc: Allocation, target: str, lines: Iterable[str] = ()) -> str:
    """Comment lines opening every export: what, from which scenario, at which instant, and
    the GPUs behind the quotas (for information: no scheduler field holds them)."""
    out = [
        f"gpufleet export for {target}: scenario {alloc.scenario!r}",
        f"allocation in force at {alloc.at.isoformat(sep=' ')} UTC",
    ]
    for c in alloc.cohorts:
        gpus = ", ".join(
            f"{t} {c.ready(t):,} ready of {c.delivered(t):,} delivered, {c.nominal_gpus(t):,} "
            "nominal"
            for t in dict.fromkeys([*c.gpu_types(), *(t for t, _ in c.delivered_gpus)])
        )
        out.append(f"cohort {c.name}: {gpus or 'no GPUs'}")
    out.extend(lines)
    return "".join(f"# {line}\n" if line else "#\n" for line in out)


def dump_yaml(docs: list[dict[str, Any]]) -> str:
    """Documents as one multi-document YAML stream, keys in the order given."""
    return yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False, explicit_start=True)


def load_yaml(text: str, what: str) -> list[dict[str, Any]]:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise InputError(f"{what}: not YAML: {e}") from None
    except RecursionError:
        raise InputError(
            f"{what}: nested too deeply to read (expected a scheduler's config)"
        ) from None
    except ValueError as e:  # e.g. an integer past Python's 4,300-digit conversion limit
        raise InputError(f"{what}: a value cannot be read: {e}") from None
    if not all(isinstance(d, dict) for d in docs):
        raise InputError(f"{what}: every YAML document must be a mapping")
    return docs


def sorted_gpus(gpus: Mapping[str, GpuLimits]) -> tuple[tuple[str, GpuLimits], ...]:
    return tuple(sorted(gpus.items()))


R = TypeVar("R")


def guarded(target: str) -> Callable[[Callable[[str], R]], Callable[[str], R]]:
    """An importer whose malformed input is the user's error (exit 2), never a traceback."""

    def wrap(read: Callable[[str], R]) -> Callable[[str], R]:
        def guarded_read(text: str) -> R:
            try:
                return read(text)
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
                raise InputError(
                    f"{target}: not a gpufleet export: {type(e).__name__} {e}"
                ) from None

        guarded_read.__doc__ = read.__doc__
        return guarded_read

    return wrap
