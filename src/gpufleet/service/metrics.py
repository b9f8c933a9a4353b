"""Request metrics for ``GET /metrics``, written in the Prometheus text format (0.0.4).

What is counted: every HTTP request by its route's template (``/api/v1/runs/{run_id}``,
never the raw path, so a caller cannot grow the label set by requesting made-up paths:
anything no route matched is ``route="unmatched"``; the templates are the app's own,
matched by :class:`RouteTemplates`, not read from the framework's private request
state), its method (the seven standard ones, the rest as ``OTHER``) and its status; and
each request's latency into a histogram with Prometheus' default buckets. The metrics
route (service/routes/ops.py) adds gauges read from the store at scrape time (the run
queue by status, the audit chain's head sequence).

The format (https://prometheus.io/docs/instrumenting/exposition_formats/): ``# HELP`` and
``# TYPE`` lines, then ``name{label="value",...} number`` lines; label values escape
backslash, double quote and newline; a histogram's ``_bucket`` lines are cumulative and end
with ``le="+Inf"`` (equal to ``_count``), followed by ``_sum`` and ``_count``. Written here
(no prometheus_client: it is not a dependency) and checked line for line in the tests.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import compile_path

# Prometheus' client libraries' default latency buckets, in seconds
BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class _Latency:
    counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS_S))
    total: int = 0
    sum_s: float = 0.0


@dataclass
class RequestMetrics:
    """Counters and latency histograms, by label; safe to update from several threads."""

    requests: dict[tuple[str, str, int], int] = field(default_factory=dict)
    latency: dict[str, _Latency] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "OTHER"
        with self.lock:
            key = (route, method, status)
            self.requests[key] = self.requests.get(key, 0) + 1
            h = self.latency.setdefault(route, _Latency())
            h.total += 1
            h.sum_s += seconds
            for i, upper in enumerate(BUCKETS_S):
                if seconds <= upper:
                    h.counts[i] += 1
                    break

    def lines(self) -> list[str]:
        """The counter and the histogram, in the exposition format, sorted by label."""
        with self.lock:
            requests = sorted(self.requests.items())
            latency = sorted(
                (route, list(h.counts), h.total, h.sum_s) for route, h in self.latency.items()
            )
        out = [
            "# HELP gpufleet_http_requests_total HTTP requests answered, by route template, "
            "method and status.",
            "# TYPE gpufleet_http_requests_total counter",
        ]
        for (route, method, status), n in requests:
            labels = _labels(method=method, route=route, status=str(status))
            out.append(f"gpufleet_http_requests_total{labels} {n}")
        name = "gpufleet_http_request_duration_seconds"
        out += [
            f"# HELP {name} Time to answer an HTTP request, by route template.",
            f"# TYPE {name} histogram",
        ]
        for route, counts, total, sum_s in latency:
            running = 0
            for upper, n in zip(BUCKETS_S, counts, strict=True):
                running += n
                out.append(f"{name}_bucket{_labels(route=route, le=number(upper))} {running}")
            out.append(f"{name}_bucket{_labels(route=route, le='+Inf')} {total}")
            out.append(f"{name}_sum{_labels(route=route)} {number(sum_s)}")
            out.append(f"{name}_count{_labels(route=route)} {total}")
        return out


def gauge(name: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> list[str]:
    """A gauge's HELP, TYPE and sample lines."""
    out = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    out += [f"{name}{_labels(**labels)} {number(v)}" for labels, v in samples]
    return out


def number(v: float) -> str:
    """A sample value as Prometheus reads it: integers without a point, +Inf/-Inf/NaN."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def escape(value: str) -> str:
    """A label value: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}"


class RouteTemplates:
    """The app's path templates, each compiled as Starlette compiles a route's
    (``{name}`` one path segment, ``{name:path}`` the rest); a path is labelled with the
    first template it matches, fixed ones (``/api/v1/runs/mine``) before those with
    parameters (``/api/v1/runs/{run_id}``)."""

    def __init__(self, templates: Iterable[str]) -> None:
        ordered = sorted(set(templates), key=lambda t: ("{" in t, t))
        self.compiled = [(compile_path(t)[0], t) for t in ordered]

    def match(self, path: str) -> str:
        for regex, template in self.compiled:
            if regex.match(path):
                return template
        return "unmatched"


class MetricsMiddleware:
    """Counts each HTTP request into ``metrics`` once it has been answered, labelled by the
    template of :class:`RouteTemplates` that ``templates()`` gives (asked once, at the
    first request, when every route has been added)."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: RequestMetrics,
        templates: Callable[[], Iterable[str]],
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app, self.metrics, self.clock = app, metrics, clock
        self.templates = templates
        self.routes: RouteTemplates | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = self.clock()
        status = 500  # an exception before the response started is answered with 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if self.routes is None:
                self.routes = RouteTemplates(self.templates())
            route = self.routes.match(scope["path"])
            self.metrics.observe(route, scope["method"], status, self.clock() - t0)
