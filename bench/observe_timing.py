"""The timing seams of bench/observe_bench.py: wrappers around the command runner and the
HTTP transport that pass every call through unchanged and keep its seconds and answer
(the answers are then parsed again, apart, to time the parse alone); and what a cycle
observed, to check that it saw the fleet rather than an error."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from gpufleet.live.prometheus.transport import HttpAnswer, HttpTransport, request_key
from gpufleet.live.runner import CommandRunner, command_text


class TimedRunner:
    """Passes each command to ``inner``; keeps its seconds and its answer."""

    def __init__(self, inner: CommandRunner) -> None:
        self.inner = inner
        self.calls: list[tuple[str, float, str]] = []

    def run(self, argv: Sequence[str]) -> str:
        t = time.perf_counter()
        out = self.inner.run(argv)
        self.calls.append((command_text(argv), time.perf_counter() - t, out))
        return out


class TimedTransport:
    """Passes each GET to ``inner``; keeps its seconds and its answer."""

    def __init__(self, inner: HttpTransport) -> None:
        self.inner = inner
        self.calls: list[tuple[str, float, HttpAnswer]] = []

    def get(self, url: str) -> HttpAnswer:
        t = time.perf_counter()
        answer = self.inner.get(url)
        self.calls.append((request_key(url), time.perf_counter() - t, answer))
        return answer


def observed(obs: Any, state: Any, gpus: Any, rows: int) -> dict[str, Any]:
    """What the cycle saw: the check that it observed the fleet, not an error."""

    def total(field: str) -> int | None:
        values = [getattr(c, field) for c in obs.capacity]
        return None if any(v is None for v in values) else sum(values)

    return {
        "gpus_registered": total("registered"),
        "gpus_seen": total("seen"),
        "gpus_up": total("up"),
        "gpus_down": total("down"),
        "gpus_allocated": total("allocated"),
        "gpus_busy": total("busy"),
        "gpus_idle": total("idle"),
        "gpus_unallocated": total("unallocated"),
        "gpus_asked_by_pending_jobs": sum(d.gpus for d in obs.demand),
        "slurm_job_records": len(state.jobs) if hasattr(state, "jobs") else None,
        "slurm_node_records": len(state.nodes) if hasattr(state, "nodes") else None,
        "gpu_samples": len(gpus) if isinstance(gpus, tuple) else None,
        "down_nodes": len(obs.down_nodes),
        "rows_stored": rows,
        "failures": [f"{f.source}: {f.error}" for f in obs.failures],
    }
