"""Rate limits on the expensive routes, per token: a token bucket each.

The routes (:data:`EXPENSIVE`) each start a simulation, a replay of the plan or a
scheduler export: ``POST /runs``, ``POST /transfers/{id}/assess``, ``GET
/runs/{id}/report``, ``GET /exports/{format}``, ``GET /reports/fleet``, ``POST
/seed``, ``POST /live/observe`` (it reads every source) and the live fleet's reads
(``GET /live/status|series|findings|suggestions``: each reads a window of samples).
All of them share one bucket per token: it holds ``burst`` requests and refills
at ``per_minute`` a minute; a request that finds it empty gets 429 ``rate-limited`` with
``Retry-After`` (whole seconds until one request's worth has refilled), in the one error
shape, before any work is done.

A token is told apart by the SHA-256 of its bearer secret (the database is not asked:
an unknown token spends a bucket of its own and then gets its 401 as usual). A request
without a token is not limited here: it gets a 401 at once. The buckets live in the
server process (a few hundred bytes each, at most :data:`MAX_BUCKETS`, the least
recently used dropped first): several server processes each keep their own, and a
restart refills them all.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from gpufleet.service.errors import error_response

MAX_BUCKETS = 10_000

EXPENSIVE: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (method, re.compile(pattern))
    for method, pattern in (
        ("POST", r"/api/v1/runs/?"),
        ("POST", r"/api/v1/transfers/[^/]+/assess/?"),
        ("GET", r"/api/v1/runs/[^/]+/report/?"),
        ("GET", r"/api/v1/exports/[^/]+/?"),
        ("GET", r"/api/v1/reports/fleet/?"),
        ("POST", r"/api/v1/seed/?"),
        ("POST", r"/api/v1/live/observe/?"),
        ("GET", r"/api/v1/live/(status|series|findings|suggestions)/?"),
    )
)


@dataclass(frozen=True)
class RateLimit:
    """``gpufleet serve --rate-per-minute N --rate-burst B``; ``per_minute`` 0: no limit."""

    per_minute: float = 30.0
    burst: int = 20


DEFAULT_RATE = RateLimit()


def is_expensive(method: str, path: str) -> bool:
    return any(m == method and p.fullmatch(path) for m, p in EXPENSIVE)


class TokenBuckets:
    """One bucket per key; thread-safe (the app's routes run in a thread pool)."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Spend one request of ``key``'s bucket: 0.0 when it had one, else the seconds
        until it will have one again (nothing is spent)."""
        rate_s = self.limit.per_minute / 60.0
        with self._lock:
            now = self.clock()
            level, at = self._buckets.pop(key, (float(self.limit.burst), now))
            level = min(float(self.limit.burst), level + (now - at) * rate_s)
            wait = 0.0
            if level >= 1.0:
                level -= 1.0
            else:
                wait = (1.0 - level) / rate_s
            self._buckets[key] = (level, now)
            while len(self._buckets) > MAX_BUCKETS:
                self._buckets.popitem(last=False)
            return wait


def _bearer_key(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return hashlib.sha256(value.strip()).hexdigest()
    return None


class RateLimitMiddleware:
    """Refuses an expensive request (:func:`is_expensive`) of a token whose bucket is
    empty; every other request passes untouched."""

    def __init__(self, app: ASGIApp, limit: RateLimit = DEFAULT_RATE) -> None:
        self.app = app
        self.buckets = TokenBuckets(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.buckets.limit
        if scope["type"] == "http" and limit.per_minute > 0:
            key = _bearer_key(scope)
            if key is not None and is_expensive(scope["method"], scope["path"]):
                wait = self.buckets.take(key)
                if wait > 0:
                    retry = max(1, math.ceil(wait))
                    resp = error_response(
                        429,
                        "rate-limited",
                        f"this token has used its {limit.burst} expensive requests "
                        f"(runs, assessments, reports, exports, seeding, live reads; "
                        f"{limit.per_minute:g} a minute): retry in {retry} s",
                        headers={"Retry-After": str(retry)},
                    )
                    await resp(scope, receive, send)
                    return
        await self.app(scope, receive, send)
