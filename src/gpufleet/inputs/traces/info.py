"""``gpufleet trace info``: what a workload holds, in the figures its SOURCE.md states."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from gpufleet.inputs.traces.workload import Workload


def _r(x: float, nd: int = 2) -> float:
    return float(round(float(x), nd))


def summarize(w: Workload, top_queues: int = 20) -> dict[str, Any]:
    n = len(w)
    gpus = w.gpus
    dur = w.duration_s
    gpu_s = np.nan_to_num(gpus * dur)
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
    queues: dict[str, dict[str, float]] = {}
    if n:
        q = w.queue.astype(str)
        names, inv = np.unique(q, return_inverse=True)
        jobs_per = np.bincount(inv, minlength=len(names))
        gh_per = np.bincount(inv, weights=gpu_s, minlength=len(names)) / 3600
        order = np.argsort(-jobs_per, kind="stable")[:top_queues]
        queues = {
            str(names[i]) or "(none)": {"jobs": int(jobs_per[i]), "gpu_hours": _r(gh_per[i], 1)}
            for i in order
        }
    hours = _hour_of_day(w)
    started = ~np.isnan(w.start_s)
    out: dict[str, Any] = {
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
        "arrivals_by_hour": hours,
        "queues": queues,
        "queue_count": len(set(w.queue.tolist())) if n else 0,
        "statuses": _counts(w.status),
        "gpu_types": _counts(w.gpu_type),
        "recorded_queueing_delay_s": _queueing(w, started),
        "fleet": [
            {"gpu_type": g.gpu_type, "gpus_per_node": g.gpus_per_node, "nodes": g.nodes}
            for g in w.fleet
        ],
        "fleet_gpus": sum(g.gpus for g in w.fleet),
        "notes": list(w.notes),
    }
    return out


def _durations(known: np.ndarray[Any, Any], n: int) -> dict[str, float | int | None]:
    """Statistics of the known durations (None where no job's is known: unknown, not 0) and
    how many jobs have none (pending, running, a source without run times)."""
    if not known.size:
        stats: dict[str, float | int | None] = dict.fromkeys(("mean", "p50", "p90", "p99", "max"))
    else:
        p50, p90, p99 = np.percentile(known, [50, 90, 99]).tolist()
        stats = {
            "mean": _r(known.mean(), 1),
            "p50": _r(p50, 1),
            "p90": _r(p90, 1),
            "p99": _r(p99, 1),
            "max": _r(known.max(), 1),
        }
    stats["unknown_jobs"] = n - int(known.size)
    return stats


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _counts(col: np.ndarray[Any, Any]) -> dict[str, int]:
    vals, counts = np.unique(col.astype(str), return_counts=True)
    return {str(v) or "(none)": int(c) for v, c in zip(vals.tolist(), counts.tolist(), strict=True)}


def _hour_of_day(w: Workload) -> list[int] | None:
    """Arrivals per hour of the day (UTC); None for a trace with relative times, whose hours
    after its first submit are no time of day."""
    if w.origin is None:
        return None
    if not len(w):
        return [0] * 24
    o = w.origin
    offset = o.hour * 3600 + o.minute * 60 + o.second
    hours = ((w.submit_s + offset) // 3600 % 24).astype(int)
    counts: list[int] = np.bincount(hours, minlength=24).tolist()
    return counts


def _queueing(w: Workload, started: np.ndarray[Any, Any]) -> dict[str, float] | None:
    if not started.any():
        return None
    q = (w.start_s - w.submit_s)[started]
    return {"jobs": int(started.sum()), "mean": _r(q.mean(), 1), "p50": _r(np.percentile(q, 50), 1)}
