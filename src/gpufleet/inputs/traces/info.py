"""``gpufleet trace info``: what a workload holds, in the figures its SOURCE.md states."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from gpufleet.inputs.traces.importers.common import utc_datetime
from gpufleet.inputs.traces.importers.csvarrow import ArrowRead, NotVouched
from gpufleet.inputs.traces.importers.csvmap import CsvRead
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.inputs.traces.workload import F64, FleetGroup, Workload


def _r(x: float, nd: int = 2) -> float:
    return float(round(float(x), nd))


Texts = Sequence[str] | np.ndarray[Any, np.dtype[np.object_]]


def summarize(w: Workload, top_queues: int = 20) -> dict[str, Any]:
    """The figures of a workload held in memory (:class:`TraceTally` for one read a chunk
    at a time)."""
    tally = TraceTally()
    tally.add(w.submit_s, w.start_s, w.duration_s, w.gpus, w.queue, w.status, w.gpu_type)
    return tally.summary(w.name, w.source, w.origin, w.fleet, w.notes, top_queues=top_queues)


def summarize_csv(
    path: Path, policy: RowPolicy, column_map: str, time_format: str | None = None
) -> dict[str, Any]:
    """:func:`summarize` of a plain CSV read through ``column_map`` a chunk at a time: the
    same figures and notes as of the workload :func:`~.importers.csvmap.load_csv` builds,
    without holding its rows."""
    if arrow_csv_available():
        fast = ArrowRead(path, policy, column_map, time_format)
        tally = TraceTally()
        try:
            for chunk in fast.chunks():
                tally.add(*chunk)
        except NotVouched:  # read again, all of it, by the reader that reports each problem
            pass
        else:
            return _csv_summary(tally, path, fast.notes, policy, fast.absolute)
    read = CsvRead(path, policy, column_map, time_format)
    tally = TraceTally()
    for c in read.chunks():
        tally.add(c.submit_s, c.start_s, c.duration_s, c.gpus, c.queue, c.status, c.gpu_type)
    return _csv_summary(tally, path, read.notes, policy, read.absolute)


def _csv_summary(
    tally: TraceTally, path: Path, notes: list[str], policy: RowPolicy, absolute: bool
) -> dict[str, Any]:
    every = [*notes, *policy.notes()]  # as finish_columns writes them
    return tally.summary(path.stem, str(path), None, (), every, shift_to_first=absolute)


def arrow_csv_available() -> bool:
    """Whether ``pyarrow.csv`` imports (the ``parquet`` extra); a bare install reads every
    CSV with the Python reader."""
    try:
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True


class TraceTally:
    """What ``trace info`` reports, gathered a chunk of jobs at a time, keeping four float
    columns (for the exact percentiles and sums) and a queue code per job, never the rows:
    a 2M-job file is summarized in about 70 MB. Every figure is computed as it was from a
    whole workload (the same NumPy sums over the same arrays in the same order), so the
    output is identical whichever way the jobs came."""

    def __init__(self) -> None:
        # growing buffers, not lists of chunks to concatenate: a chunk's freed arrays stay in
        # the process's heap, so a concatenation at the end would double the columns' RSS
        self._floats = {k: array("d") for k in ("submit", "start", "dur", "gpus")}
        self._queue_codes = array("q")
        self._queue_index: dict[str, int] = {}
        self.statuses: Counter[str] = Counter()
        self.gpu_types: Counter[str] = Counter()

    def add(
        self,
        submit_s: F64,
        start_s: F64,
        duration_s: F64,
        gpus: F64,
        queue: Texts,
        status: Texts,
        gpu_type: Texts,
    ) -> None:
        for k, col in zip(self._floats, (submit_s, start_s, duration_s, gpus), strict=True):
            self._floats[k].frombytes(np.asarray(col, dtype=np.float64).tobytes())
        index = self._queue_index
        code = index.setdefault
        self._queue_codes.extend(code(str(q), len(index)) for q in queue)
        self.statuses.update(map(str, status))
        self.gpu_types.update(map(str, gpu_type))

    def summary(
        self,
        name: str,
        source: str,
        origin: datetime | None,
        fleet: tuple[FleetGroup, ...],
        notes: list[str],
        *,
        shift_to_first: bool = False,
        top_queues: int = 20,
    ) -> dict[str, Any]:
        """The figures. ``shift_to_first``: the times are epoch seconds (an absolute CSV
        read a chunk at a time); they become seconds after the earliest submit, which is the
        origin, as :func:`~gpufleet.inputs.traces.importers.common.finish_columns` does."""
        submit, start, dur, gpus = (np.frombuffer(a, np.float64) for a in self._floats.values())
        if shift_to_first and len(submit):
            t0 = float(submit.min())
            origin = utc_datetime(t0)
            submit, start = submit - t0, start - t0
        return _figures(
            _Cols(name, source, origin, fleet, notes, submit, start, dur, gpus),
            self._queues(np.nan_to_num(gpus * dur), top_queues),
            {k: v for k, v in sorted(self.statuses.items())},
            {k: v for k, v in sorted(self.gpu_types.items())},
        )

    def _queues(self, gpu_s: F64, top: int) -> tuple[dict[str, dict[str, float]], int]:
        """The ``top`` largest queues by jobs (ties by name) and how many there are."""
        codes = np.frombuffer(self._queue_codes, np.int64)
        if not len(codes):
            return {}, 0
        names = sorted(self._queue_index)
        rank = {q: i for i, q in enumerate(names)}
        inv = np.array([rank[q] for q in self._queue_index], dtype=np.int64)[codes]
        jobs_per = np.bincount(inv, minlength=len(names))
        gh_per = np.bincount(inv, weights=gpu_s, minlength=len(names)) / 3600
        order = np.argsort(-jobs_per, kind="stable")[:top]
        queues = {
            names[i] or "(none)": {"jobs": int(jobs_per[i]), "gpu_hours": _r(gh_per[i], 1)}
            for i in order.tolist()
        }
        return queues, len(names)


@dataclass(frozen=True)
class _Cols:
    name: str
    source: str
    origin: datetime | None
    fleet: tuple[FleetGroup, ...]
    notes: list[str]
    submit_s: F64
    start_s: F64
    duration_s: F64
    gpus: F64


def _figures(
    w: _Cols,
    queues: tuple[dict[str, dict[str, float]], int],
    statuses: dict[str, int],
    gpu_types: dict[str, int],
) -> dict[str, Any]:
    n = len(w.submit_s)
    gpus = w.gpus
    dur = w.duration_s
    gpu_s = gpus * dur
    np.nan_to_num(gpu_s, copy=False)  # in place: one 16 MB column fewer at 2M jobs
    total_gpu_s = float(gpu_s.sum())
    gpu_jobs = gpus > 0
    multi = gpus > 1
    sizes: dict[str, int] = {}
    if n:
        vals, counts = np.unique(gpus[gpu_jobs], return_counts=True)
        sizes = {_fmt(v): int(c) for v, c in zip(vals.tolist(), counts.tolist(), strict=True)}
    span_s = float(w.submit_s.max() - w.submit_s.min()) if n else 0.0
    first = last = None
    if w.origin is not None and n:
        first = (w.origin + timedelta(seconds=float(w.submit_s.min()))).isoformat()
        last = (w.origin + timedelta(seconds=float(w.submit_s.max()))).isoformat()
    known = dur[~np.isnan(dur)]
    started = ~np.isnan(w.start_s)
    return {
        "name": w.name,
        "source": w.source,
        "jobs": n,
        "gpu_jobs": int(gpu_jobs.sum()),
        "gpu_hours": _r(total_gpu_s / 3600, 1),
        "first_submit": first,
        "last_submit": last,
        "span_days": _r(span_s / 86400, 2),
        "gpus_per_gpu_job_mean": _r(gpus[gpu_jobs].mean(), 3) if gpu_jobs.any() else 0.0,
        "gpus_per_job_max": _r(gpus.max(), 2) if n else 0.0,
        "size_distribution": sizes,
        "multi_gpu_job_share": _r(multi.sum() / max(1, gpu_jobs.sum()), 4),
        "multi_gpu_gpu_time_share": _r(gpu_s[multi].sum() / total_gpu_s, 4) if total_gpu_s else 0.0,
        "fractional_gpu_jobs": int(((gpus > 0) & (gpus != np.floor(gpus))).sum()),
        "duration_s": _durations(known, n),
        "arrivals_by_hour": _hour_of_day(w),
        "queues": queues[0],
        "queue_count": queues[1],
        "statuses": _named(statuses),
        "gpu_types": _named(gpu_types),
        "recorded_queueing_delay_s": _queueing(w, started),
        "fleet": [
            {"gpu_type": g.gpu_type, "gpus_per_node": g.gpus_per_node, "nodes": g.nodes}
            for g in w.fleet
        ],
        "fleet_gpus": sum(g.gpus for g in w.fleet),
        "notes": list(w.notes),
    }


def _durations(known: np.ndarray[Any, Any], n: int) -> dict[str, float | int | None]:
    """Statistics of the known durations (None where no job's is known: unknown, not 0) and
    how many jobs have none (pending, running, a source without run times)."""
    if not known.size:
        stats: dict[str, float | int | None] = dict.fromkeys(("mean", "p50", "p90", "p99", "max"))
    else:
        mean, most = known.mean(), known.max()  # before the percentiles reorder ``known``
        p50, p90, p99 = np.percentile(known, [50, 90, 99], overwrite_input=True).tolist()
        stats = {
            "mean": _r(mean, 1),
            "p50": _r(p50, 1),
            "p90": _r(p90, 1),
            "p99": _r(p99, 1),
            "max": _r(most, 1),
        }
    stats["unknown_jobs"] = n - int(known.size)
    return stats


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _named(counts: dict[str, int]) -> dict[str, int]:
    """Counts by value in sorted order, "" shown as "(none)"."""
    return {v or "(none)": c for v, c in counts.items()}


def _hour_of_day(w: _Cols) -> list[int] | None:
    """Arrivals per hour of the day (UTC); None for a trace with relative times, whose hours
    after its first submit are no time of day."""
    if w.origin is None:
        return None
    if not len(w.submit_s):
        return [0] * 24
    o = w.origin
    offset = o.hour * 3600 + o.minute * 60 + o.second
    hours = ((w.submit_s + offset) // 3600 % 24).astype(int)
    counts: list[int] = np.bincount(hours, minlength=24).tolist()
    return counts


def _queueing(w: _Cols, started: np.ndarray[Any, Any]) -> dict[str, float] | None:
    if not started.any():
        return None
    q = (w.start_s - w.submit_s)[started]
    mean = _r(q.mean(), 1)  # before the percentile reorders q
    return {
        "jobs": int(started.sum()),
        "mean": mean,
        "p50": _r(np.percentile(q, 50, overwrite_input=True), 1),
    }
