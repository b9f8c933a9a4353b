"""Nodes from ``sinfo``'s text fields instead of Slurm 22.05's JSON writer.

Why: ``sinfo --json`` prints every field of every node through the openapi plugin; at the
10,000-GPU bench (1,250 nodes) it was the slowest of the cycle's Slurm commands beside
squeue (bench/observe_results.json). The same nodes with only the fields gpufleet reads
are a few lines of text, and everything :class:`SlurmNode` holds is in them.

Safety of the text (sinfo(1) and sinfo/print.c of 22.05), as for the job list
(:mod:`gpufleet.live.slurm.jobs_text`):

- only fields that are not free text are asked, each with the suffix ``|`` and no width
  (``:|``: printed whole); the reason, the one free-text field, comes last, so a ``|``
  (or anything looking like fields) in it cannot move another field; every line is
  checked (field count, state, numbers, CPU counts, GRES, times) and an error names the
  command, the line and the field;
- ``-N``: one line per node and partition, ``-a``: hidden partitions too; a node in
  several partitions has one line for each, read as one node whose partitions are those
  lines' (the other fields must agree);
- the state as ``StateComplete`` (``idle+drain+not_responding``: the base state and each
  flag, as the JSON's ``state`` and ``state_flags``), the partition's name without the
  default's ``*`` (``PartitionName``), times as seconds since the epoch
  (``SLURM_TIME_FORMAT=%s``);
- what sinfo prints for a value not set: a reason ``none`` with no time (the JSON's
  ``""``; a reason written ``none`` has its time), ``Unknown`` for the user and time
  (``UserLong`` is ``name(uid)`` when set, so ``Unknown`` cannot be a user's name).

Not the default (``sources.slurm.nodes: json`` is): sinfo 22.05 builds its lines from the
partitions (src/sinfo/sinfo.c, ``_build_sinfo_data``), so a node in no partition is not
in this answer at all, where ``sinfo --json`` lists it. Not yet checked against the JSON
on a real cluster (the dev and bench clusters have none): a node in several partitions
(its partitions in the order of its lines, which may not be ``sinfo --json``'s order).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from gpufleet.live.errors import SourceError
from gpufleet.live.jsonread import At
from gpufleet.live.slurm.gres import gres_counts
from gpufleet.live.slurm.model import GpuCount, NodeState, SlurmNode
from gpufleet.live.slurm.text import field_cells

FIELDS = (
    "nodelist",
    "statecomplete",
    "partitionname",
    "gres",
    "gresused",
    "cpus",
    "cpusstate",
    "userlong",
    "timestamp",
    "reason",  # last: the one free-text field
)
SINFO_TEXT = (
    "env",
    "SLURM_TIME_FORMAT=%s",
    "sinfo",
    "-N",
    "-a",
    "-h",
    "-O",
    ",".join(f"{f}:|" for f in FIELDS),
)
_Fail = Callable[[str, str, str], SourceError]  # (field, message, expected) -> the error

_KNOWN = {s.value: s for s in NodeState}
_NAME = re.compile(r"[^\s|,\[\]]+")
_STATE_WORD = re.compile(r"[a-z_]+")
_USER = re.compile(r"(?P<name>\S+)\((?P<uid>\d+)\)")
_CPUS = re.compile(r"(?P<a>\d+)/(?P<i>\d+)/(?P<o>\d+)/(?P<t>\d+)")


def parse_sinfo_text(source: str, text: str) -> tuple[SlurmNode, ...]:
    """Every node of :data:`SINFO_TEXT`'s answer, in the order first listed; a node's
    further lines add their partitions."""
    nodes: dict[str, SlurmNode] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        node = _parse_line(source, number, raw)
        seen = nodes.get(node.name)
        if seen is None:
            nodes[node.name] = node
            continue
        if replace(seen, partitions=node.partitions) != node:
            raise SourceError(
                source,
                "<line>",
                f"node {node.name} is listed again with other values than on an earlier line",
                "the same node fields on each of its partitions' lines",
                line=number,
            )
        nodes[node.name] = replace(seen, partitions=seen.partitions + node.partitions)
    return tuple(nodes.values())


def _parse_line(source: str, number: int, raw: str) -> SlurmNode:
    def fail(name: str, message: str, expected: str) -> SourceError:
        return SourceError(source, name, message, expected, line=number)

    c = field_cells(fail, FIELDS, raw)
    for name in ("nodelist", "partitionname"):
        if not _NAME.fullmatch(c[name]):
            raise fail(name, f"{c[name]!r} is not one name", "a node or partition name")
    base, flags = _state(fail, c["statecomplete"])
    when = _epoch(fail, c["timestamp"])
    return SlurmNode(
        name=c["nodelist"],
        state=base,
        flags=flags,
        reason="" if c["reason"] == "none" and when is None else c["reason"],
        reason_set_by=_user(fail, c["userlong"]),
        reason_time=when,
        partitions=(c["partitionname"],),
        gpus=_gres(fail, source, "gres", c["gres"]),
        gpus_used=_gres(fail, source, "gresused", c["gresused"]),
        cpus=_whole(fail, "cpus", c["cpus"]),
        cpus_allocated=_allocated(fail, c["cpusstate"]),
    )


def _state(fail: _Fail, text: str) -> tuple[NodeState, tuple[str, ...]]:
    """``idle+drain`` -> IDLE, (DRAIN,): the JSON path's reading of state and flags."""
    words = text.split("+")
    if not all(_STATE_WORD.fullmatch(w) for w in words):
        raise fail("statecomplete", f"{text!r} is not a node state", "e.g. idle or mixed+drain")
    names = [w.upper() for w in words]
    base = next((_KNOWN[n] for n in names if n in _KNOWN), None)
    if base is None:
        raise fail("statecomplete", f"unknown node state {text!r}", f"one of {', '.join(_KNOWN)}")
    return base, tuple(n for n in names if n != base.value)


def _gres(fail: _Fail, source: str, name: str, text: str) -> tuple[GpuCount, ...]:
    try:
        return gres_counts(At(source, name, text), text)
    except SourceError as e:
        raise fail(name, e.problems[0].message, e.expected) from None


def _whole(fail: _Fail, name: str, text: str) -> int:
    if not text.isdigit():
        raise fail(name, f"{text!r} is not a whole number", "digits")
    return int(text)


def _allocated(fail: _Fail, text: str) -> int:
    m = _CPUS.fullmatch(text)
    if m is None:
        raise fail("cpusstate", f"{text!r} is not CPU counts", "allocated/idle/other/total")
    return int(m.group("a"))


def _user(fail: _Fail, text: str) -> str:
    if text == "Unknown":
        return ""
    m = _USER.fullmatch(text)
    if m is None:
        raise fail("userlong", f"{text!r} is not a user", "NAME(UID) or Unknown")
    return m.group("name")


def _epoch(fail: _Fail, text: str) -> datetime | None:
    """Seconds since the epoch; ``Unknown`` (not set) and 0 are None."""
    if text == "Unknown":
        return None
    if not text.isdigit():
        raise fail(
            "timestamp",
            f"{text!r} is not seconds since the epoch",
            "digits (SLURM_TIME_FORMAT=%s) or Unknown",
        )
    seconds = int(text)
    return datetime.fromtimestamp(seconds, UTC) if seconds else None
