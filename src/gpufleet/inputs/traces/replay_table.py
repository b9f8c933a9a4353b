"""The jobs a replay will submit, held as columns until the simulator asks for them.

A replay used to build one :class:`~gpufleet.domain.jobs.JobDraft` per job before the run
(about 400 bytes each with its floats, tuple and name: 1.4 GB for a 2M-job trace, issue 14
item 9). The simulator takes each program's jobs from an iterator and holds only the next
arrival, so the drafts can be made as it asks: :class:`JobTable` keeps a job in about 30
bytes (two float and three int columns, its GPU models as an index into a few shared
tuples, its queue as a shared string) and each stream makes its drafts on the fly. The
drafts are field for field the ones built before, in the same order.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gpufleet.domain.ids import GpuTypeName
from gpufleet.domain.jobs import JobDraft

Types = tuple[GpuTypeName, ...]


@dataclass
class JobTable:
    """Jobs in submit order (and the source's order among ties). ``names`` is the
    workload's ``job_id`` column, indexed by ``row``; ``kinds`` indexes ``types``."""

    names: Any
    submit_s: array[float] = field(default_factory=lambda: array("d"))
    gpus: array[int] = field(default_factory=lambda: array("q"))
    work_s: array[float] = field(default_factory=lambda: array("d"))
    kind: array[int] = field(default_factory=lambda: array("q"))
    row: array[int] = field(default_factory=lambda: array("q"))
    queue: list[str] = field(default_factory=list)
    types: list[Types] = field(default_factory=list)
    checkpoint_s: float | None = None
    restore_s: float = 0.0
    _type_index: dict[Types, int] = field(default_factory=dict)

    def add(
        self, queue: str, submit_s: float, gpus: int, work_s: float, types: Types, row: int
    ) -> None:
        k = self._type_index.get(types)
        if k is None:
            k = self._type_index[types] = len(self.types)
            self.types.append(types)
        self.queue.append(queue)
        self.submit_s.append(submit_s)
        self.gpus.append(gpus)
        self.work_s.append(work_s)
        self.kind.append(k)
        self.row.append(row)

    def __len__(self) -> int:
        return len(self.submit_s)

    def draft(self, i: int) -> JobDraft:
        return JobDraft(
            self.submit_s[i],
            self.gpus[i],
            self.work_s[i],
            self.types[self.kind[i]],
            checkpoint_s=self.checkpoint_s,
            name=str(self.names[self.row[i]]),
            restore_s=self.restore_s,
            source_row=self.row[i],
        )

    def by_queue(self) -> dict[str, array[int]]:
        """Each queue's jobs (positions in the table), queues in order of first appearance."""
        out: dict[str, array[int]] = defaultdict(lambda: array("q"))
        for i, q in enumerate(self.queue):
            out[q].append(i)
        return dict(out)

    def gpu_seconds(self, positions: Iterable[int]) -> float:
        """Work x GPUs summed in the order given (Python's float sum, as over drafts)."""
        work, gpus = self.work_s, self.gpus
        return sum(work[i] * gpus[i] for i in positions)


@dataclass(frozen=True)
class TableStream:
    """A program's workload (``Scenario.workloads``): its jobs' drafts, made as asked."""

    table: JobTable
    positions: array[int]

    def __call__(self, seed: int) -> Iterator[JobDraft]:
        draft = self.table.draft
        return (draft(i) for i in self.positions)
