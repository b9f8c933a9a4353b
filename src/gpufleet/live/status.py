"""The live fleet at a glance, read from the store and the register: what ``gpufleet
status`` prints and the API's live routes serve. :func:`live_status` gathers the typed
findings; :func:`status_json` is the one place they become JSON (numbers unrounded:
GPU-days and dollars exactly as computed; instants ISO 8601 UTC)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from gpufleet.live import enacted_drift
from gpufleet.live.enacted_drift import EnactDrift
from gpufleet.live.findings import (
    DEFAULT_RULES,
    Drift,
    Suggestion,
    SuggestionRules,
    Waste,
    drift,
    suggestions,
    waste,
)
from gpufleet.live.plan import read_register
from gpufleet.live.series import DemandPoint, FailurePoint, Sample
from gpufleet.live.store import latest, samples

DEFAULT_WINDOW_S = 86_400.0


@dataclass(frozen=True)
class LiveStatus:
    now: datetime
    since: datetime  # the window: samples whose instant is in [since, now]
    samples: int
    covered_s: float  # seconds the window's samples stand for
    latest: Sample | None
    waste: tuple[Waste, ...]
    demand: tuple[DemandPoint, ...]  # the latest sample's
    drift: Drift | None
    suggestions: tuple[Suggestion, ...]
    failures: tuple[FailurePoint, ...]  # the latest sample's
    failures_in_window: tuple[FailurePoint, ...]  # failed sources of the window's samples
    enact_drift: tuple[EnactDrift, ...] = ()  # settings changed outside gpufleet, current


def live_status(
    s: Session,
    now: datetime,
    window_s: float = DEFAULT_WINDOW_S,
    rules: SuggestionRules = DEFAULT_RULES,
) -> LiveStatus:
    """Findings over the samples of the last ``window_s`` seconds up to ``now``; the
    suggestions look at the samples from ``rules.after_s`` before the window on too."""
    since = now - timedelta(seconds=window_s)
    register = read_register(s)
    until = now + timedelta(microseconds=1)
    last = latest(s, until)
    # GPU-days need the capacity rows only (and failures, few): a day at 100k GPUs is
    # 1,440 samples of some 400 rows each
    parts = ("capacity", "failures")
    longer = samples(s, since - timedelta(seconds=rules.after_s), until, parts)
    series = [x for x in longer if x.at >= since]
    return LiveStatus(
        now=now,
        since=since,
        samples=len(series),
        covered_s=sum(x.span_s for x in series),
        latest=last,
        waste=waste(series, register.plan),
        demand=last.demand if last else (),
        drift=drift(last, register.plan, now) if last else None,
        suggestions=suggestions(longer, register.plan, register.groups, now.date(), rules, last),
        failures=last.failures if last else (),
        failures_in_window=_failures(series),
        enact_drift=enacted_drift.read_current(s),
    )


def _failures(series: Iterable[Sample]) -> tuple[FailurePoint, ...]:
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for x in series:
        for f in x.failures:
            counts[f.key] += f.count
    return tuple(FailurePoint(*k, n) for k, n in sorted(counts.items()))


# --- JSON -------------------------------------------------------------------------------


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _waste(w: Waste) -> dict[str, Any]:
    return {
        "entity": w.entity,
        "site": w.site,
        "gpu_type": w.gpu_type,
        "now": {
            "in_use": w.in_use_now,
            "idle": w.idle_now,
            "stranded": w.stranded_now,
            "unknown_use": w.unknown_use_now,
        },
        "gpu_days": {
            "in_use": w.in_use_gpu_days,
            "idle": w.idle_gpu_days,
            "stranded": w.stranded_gpu_days,
            "unknown_use": w.unknown_use_gpu_days,
        },
        "usd_per_gpu_day": {"idle": w.idle_usd_per_gpu_day, "stranded": w.stranded_usd_per_gpu_day},
        "usd": {"idle": w.idle_usd, "stranded": w.stranded_usd},
        "unknown_s": w.unknown_s,
    }


NOW_FIELDS = ("in_use_now", "idle_now", "stranded_now", "unknown_use_now")
SUM_FIELDS = (
    "in_use_gpu_days",
    "idle_gpu_days",
    "stranded_gpu_days",
    "unknown_use_gpu_days",
    "idle_usd",
    "stranded_usd",
)


def totals(rows: Iterable[Waste], by: str) -> dict[str, dict[str, float | None]]:
    """GPU-days and dollars summed per entity (``by="entity"``) or per site; a count now
    is None (unknown) when any of its rows' is: a sum over an unknown part is unknown."""
    out: dict[str, dict[str, float | None]] = {}
    for w in rows:
        t = out.setdefault(getattr(w, by), dict.fromkeys(NOW_FIELDS + SUM_FIELDS, 0.0))
        for f in NOW_FIELDS + SUM_FIELDS:
            value, sum_ = getattr(w, f), t[f]
            t[f] = None if value is None or sum_ is None else sum_ + value
    return dict(sorted(out.items()))


def unknown_reasons(last: Sample | None) -> dict[str, str | None]:
    """Why counts of the latest sample are unknown (None: they are known): ``capacity``
    (the schedulers' counts: stranded, idle, in use) and ``use`` (busy or idle among the
    allocated GPUs: no telemetry read, or GPUs without a DCGM sample)."""
    if last is None:
        return {"capacity": None, "use": None}
    failed = {f.source: f.error for f in last.failures}
    capacity = use = None
    if any(c.seen is None for c in last.capacity):
        said = [f"{s} failed: {failed[s]}" for s in ("slurm", "kubernetes") if s in failed]
        capacity = "; ".join(said) or "no scheduler source was read"
    if any(c.busy is None and c.allocated is not None for c in last.capacity):
        use = (
            f"prometheus failed: {failed['prometheus']}"
            if "prometheus" in failed
            else "no GPU telemetry was read (no Prometheus source configured)"
        )
    elif unmeasured := sum(c.unmeasured or 0.0 for c in last.capacity):
        use = f"{unmeasured:g} allocated GPUs had no DCGM sample"
    return {"capacity": capacity, "use": use}


def _demand(d: DemandPoint) -> dict[str, Any]:
    return {
        "entity": d.entity,
        "program": d.program,
        "gpu_type": d.gpu_type,
        "reason": d.reason.value if d.reason else None,
        "sentence": d.reason.sentence if d.reason else None,
        "scheduler_reasons": list(d.scheduler_reasons),
        "gpus": d.gpus,
        "jobs": d.jobs,
    }


def _suggestion(x: Suggestion) -> dict[str, Any]:
    return {
        "kind": x.kind,
        "from_entity": x.from_entity,
        "site": x.site,
        "gpu_type": x.gpu_type,
        "to_entity": x.to_entity,
        "to_program": x.to_program,
        "gpus": x.gpus,
        "wasted_since": _iso(x.wasted_since),
        "wasted_s": x.wasted_s,
        "demand_gpus": x.demand_gpus,
        "demand_reasons": list(x.demand_reasons),
        "request": x.request.model_dump(by_alias=True, mode="json", exclude_none=True),
        "assess_command": x.assess_command,
    }


def _drift(d: Drift | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {
        "counts": [
            {
                "entity": c.entity,
                "site": c.site,
                "gpu_type": c.gpu_type,
                "pools": list(c.pools),
                "registered": c.registered,
                "seen": c.seen,
                "message": c.message,
            }
            for c in d.counts
        ],
        "quotas": [
            {
                "program": q.program,
                "entity": q.entity,
                "gpu_type": q.gpu_type,
                "scope": q.scope,
                "in_force": q.in_force,
                "planned": q.planned,
                "message": q.message,
            }
            for q in d.quotas
        ],
        "note": d.note,
    }


def _failure(f: FailurePoint) -> dict[str, Any]:
    return {"source": f.source, "asked": f.asked, "error": f.error, "count": f.count}


def status_json(st: LiveStatus) -> dict[str, Any]:
    last = st.latest
    return {
        "now": _iso(st.now),
        "window": {"since": _iso(st.since), "samples": st.samples, "covered_s": st.covered_s},
        "latest": None
        if last is None
        else {"at": _iso(last.at), "tier": last.tier, "span_s": last.span_s},
        "fleet": [_waste(w) for w in st.waste],
        "by_entity": totals(st.waste, "entity"),
        "by_site": totals(st.waste, "site"),
        "unknown": unknown_reasons(last),
        "demand": [_demand(d) for d in st.demand],
        "drift": _drift(st.drift),
        "enact_drift": [enacted_drift.as_json(d) for d in st.enact_drift],
        "suggestions": [_suggestion(x) for x in st.suggestions],
        "failures": [_failure(f) for f in st.failures],
        "failures_in_window": [_failure(f) for f in st.failures_in_window],
        "unmapped": []
        if last is None
        else [
            {"kind": u.kind, "name": u.name, "source": u.source, "gpus": u.gpus}
            for u in last.unmapped
        ],
        "down_nodes": []
        if last is None
        else [
            {
                "node": n.node,
                "entity": n.entity,
                "site": n.site,
                "pool": n.pool,
                "gpu_type": n.gpu_type,
                "gpus": n.gpus,
                "state": n.state,
                "reason": n.reason,
            }
            for n in last.down_nodes
        ],
    }
