"""Slurm's small languages for GPUs: GRES strings, TRES lists and host lists.

- node GRES ``gpu:h100:8(S:0-1)``, used GRES ``gpu:h100:4(IDX:0-3)``, a job's
  ``tres_per_node`` ``gres:gpu:h100:4`` (22.05) or ``gres/gpu:h100=4`` (later);
- TRES ``cpu=1,node=1,gres/gpu=4,gres/gpu:h100=4`` (jobs, limits);
- host lists ``gf-h100-[1-2],gf-a100-1`` and index lists ``0-1,4``.

Each parser takes ``where`` (an :class:`At`) so that a malformed string names its source
and field.
"""

from __future__ import annotations

import re

from gpufleet.live.jsonread import At
from gpufleet.live.slurm.model import GpuAllocation, GpuCount, TresLimit

_GRES_ITEM = re.compile(r"gpu(?::(?P<type>[\w.-]+?))?:(?P<count>\d+)(?:\((?P<extra>[^)]*)\))?")
_NONE = ("", "(null)", "N/A", "none")


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses and brackets."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "([" or -(ch in ")]")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [*parts, cur] if cur else parts


def gres_counts(where: At, text: str) -> tuple[GpuCount, ...]:
    """GPUs in a node's or job's GRES string; other GRES (``shard``, ``mps``) are left."""
    out: list[GpuCount] = []
    for raw in _split_top(text.strip()):
        item = raw.strip().removeprefix("gres:").removeprefix("gres/")
        if item in _NONE or not item.startswith("gpu"):
            continue
        parsed = _gpu_item(item)
        if parsed is None:
            raise where.fail(f"GRES item {item!r} is not understood", "gpu[:TYPE]:COUNT")
        out.append(GpuCount(*parsed))
    return tuple(out)


def _gpu_item(item: str) -> tuple[str | None, int] | None:
    """``gpu:h100:8(S:0)`` (22.05) or ``gpu:h100=4`` (later tres_per_node) -> (type, n)."""
    m = _GRES_ITEM.fullmatch(item)
    if m:
        return m.group("type"), int(m.group("count"))
    m = re.fullmatch(r"gpu(?::([\w.-]+))?=(\d+)", item)
    return (m.group(1), int(m.group(2))) if m else None


def gres_allocations(where: At, node: str, text: str) -> tuple[GpuAllocation, ...]:
    """A running job's ``gres_detail`` entry for one node: ``gpu:h100:4(IDX:0-3)``."""
    out: list[GpuAllocation] = []
    for item in _split_top(text.strip()):
        m = _GRES_ITEM.fullmatch(item.strip())
        if m is None or not item.startswith("gpu"):
            continue
        extra = m.group("extra") or ""
        idx = re.search(r"IDX:([\d,-]+)", extra)
        indices = index_list(where, idx.group(1)) if idx else ()
        out.append(GpuAllocation(node, m.group("type"), indices))
    return tuple(out)


def tres_list(where: At, text: str) -> tuple[TresLimit, ...]:
    """``cpu=1,gres/gpu=4`` -> the TRES with whole counts (``mem=62.50G`` is skipped:
    gpufleet reads GPUs, and memory's units vary)."""
    out: list[TresLimit] = []
    for item in text.split(","):
        item = item.strip()
        if not item or item in _NONE:
            continue
        name, eq, count = item.partition("=")
        if not eq:
            raise where.fail(f"TRES item {item!r} has no '='", "NAME=COUNT, e.g. gres/gpu=4")
        if count.isdigit():
            out.append(TresLimit(name, int(count)))
        elif name.startswith("gres/"):
            raise where.fail(f"TRES {name} count {count!r} is not whole", "a whole number")
    return tuple(out)


def gpus_of_tres(tres: tuple[TresLimit, ...]) -> tuple[int, str | None] | None:
    """(GPUs, type) from a TRES list: ``gres/gpu`` is the count, a single
    ``gres/gpu:TYPE`` names the type. None when the list has no GPUs."""
    total = next((t.count for t in tres if t.tres == "gres/gpu"), None)
    typed = [t for t in tres if t.tres.startswith("gres/gpu:") and t.count > 0]
    if total is None:
        if not typed:
            return None
        total = sum(t.count for t in typed)
    gpu_type = typed[0].tres.removeprefix("gres/gpu:") if len(typed) == 1 else None
    return total, gpu_type


def index_list(where: At, text: str) -> tuple[int, ...]:
    """``0-1,4`` -> (0, 1, 4)."""
    out: list[int] = []
    for rng in text.split(","):
        lo, _, hi = rng.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise where.fail(f"index range {rng!r} is not understood", "N or N-M")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return tuple(out)


def host_list(where: At, text: str) -> tuple[str, ...]:
    """Slurm's host list syntax: ``gf-h100-[1-2,4],gf-a100-1`` -> the names in order."""
    names: list[str] = []
    for part in _split_top(text.strip()):
        m = re.fullmatch(r"([^\[\]]*)\[([^\]]+)\]([^\[\]]*)", part)
        if m is None:
            if "[" in part or "]" in part:
                raise where.fail(f"host list item {part!r} is not understood", "name[1-3,5]")
            names.append(part)
            continue
        for rng in m.group(2).split(","):
            lo, _, hi = rng.partition("-")
            if not lo.isdigit() or (hi and not hi.isdigit()):
                raise where.fail(f"host range {rng!r} is not understood", "N or N-M")
            for i in range(int(lo), int(hi or lo) + 1):
                names.append(f"{m.group(1)}{i:0{len(lo)}d}{m.group(3)}")
    return tuple(names)
