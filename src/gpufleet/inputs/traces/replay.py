"""A workload as a scenario: its jobs, on its own fleet or on one you give.

Rules (each reported in the result's ``notes`` with a count when it drops or changes jobs):

- one program per queue (``default`` when a job has none), all in one entity and cohort;
- a fleet comes from the trace, from ``fleet`` (another source with a fleet), or from
  ``gpus`` (a homogeneous fleet of that many GPUs, 8 per node, of the trace's GPU type
  or a neutral ``trace-gpu``); with none of them, an error;
- GPU models the catalog does not know are added with throughput 1.0 and H100-like power
  (the replay then preserves recorded durations on them);
- a job's work is its recorded duration times the throughput of its recorded GPU type, so
  on that type it runs exactly as long as it did; a ``|``-separated list of models
  (``P100|T4``) lets the job run on any of them (work at the first one's throughput);
- fractional GPU requests are rounded up to whole GPUs (fractional placement is a separate
  policy); CPU-only jobs and jobs with an unknown duration are dropped; so are jobs that ask
  for a model the fleet lacks; a job asking for more GPUs than any (site, type) group of
  the fleet holds is an error with ``strict`` (the CLI's default ``--on-error=stop``) and
  dropped otherwise;
- quotas (used by the ``quota`` policy): a queue's allocation series when the trace has one,
  otherwise a share of each GPU type proportional to the queue's GPU-hours;
- ``scale_load`` divides inter-arrival times (2.0 = twice the arrival rate);
- jobs submitted at the same time arrive in the source's order (its rows), whichever queues
  they are in: each draft carries its row (``source_row``), and the simulator merges the
  queues' streams by (submit time, row). A job keeps its source id as its name (``job_id``);
- the horizon runs to the last submit plus the longest job plus the time the whole fleet
  would need to run all the work once, so queues can drain;
- preemption is checkpoint/restart (traces record no checkpoints, so one is assumed): a
  preempted job keeps its work up to its last checkpoint, taken every
  ``TRACE_CHECKPOINT_S`` of new work, and when it resumes it first spends
  ``TRACE_RESTORE_S`` reloading it. The defaults apply to trace jobs only (scenario jobs
  keep their own ``checkpoint_hours``) and follow Gandiva (Xiao et al., OSDI 2018, §3-4),
  the system Tiresias (Gu et al., NSDI 2019) also builds its preemption on: jobs are
  suspended at a mini-batch boundary once per 60 s time-slice quantum, so at most one
  quantum of work is lost; the restore overhead of 10 s is our assumption of the order of
  a reload of model and optimizer state from host memory or local disk (Gandiva reports
  suspend/resume far under a quantum), not a figure either paper measured on Philly or
  Helios. ``checkpoint_s``/``restore_s`` of :func:`to_scenario` override both.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from itertools import chain

import numpy as np

from gpufleet.domain.changes import QuotaChange
from gpufleet.domain.fleet import NodePool, Site
from gpufleet.domain.gpus import GpuCatalog, GpuType, default_catalog
from gpufleet.domain.ids import CohortId, EntityId, GpuTypeName, PoolId, ProgramId, SiteId
from gpufleet.domain.jobs import JobDraft
from gpufleet.domain.org import Entity, Program, Quota
from gpufleet.domain.scenario import CostModel, PolicySpec, Scenario
from gpufleet.errors import InputError
from gpufleet.inputs.traces.replay_table import JobTable, TableStream, Types
from gpufleet.inputs.traces.workload import FleetGroup, Workload

NEUTRAL = "trace-gpu"
DEFAULT_ORIGIN = datetime(2000, 1, 1)
TRACE_CHECKPOINT_S = 60.0  # Gandiva's time-slice quantum (see the module docstring)
TRACE_RESTORE_S = 10.0  # an assumption, documented above


_ROWS_AT_ONCE = 65_536  # rows turned into Python values at a time (a few MB, whatever the trace)


def _rows(w: Workload) -> Iterator[tuple[float, float, float, str, str, int]]:
    """(submit s, duration s, GPUs, GPU type, queue, row) per job, in submit order from 0 and
    in the source's order among jobs submitted at the same time; ``row`` indexes ``w``.
    Slices of the sorted order at a time: one Python float per cell for the whole trace
    would hold about 150 bytes a job at once (300 MB at 2M jobs)."""
    order = np.argsort(w.submit_s, kind="stable")  # what Workload.sorted() does
    t0 = float(w.submit_s[order[0]]) if len(order) else 0.0
    for lo in range(0, len(order), _ROWS_AT_ONCE):
        at = order[lo : lo + _ROWS_AT_ONCE]
        yield from zip(
            (w.submit_s[at] - t0).tolist(),
            w.duration_s[at].tolist(),
            w.gpus[at].tolist(),
            w.gpu_type[at].tolist(),
            w.queue[at].tolist(),
            at.tolist(),
            strict=True,
        )


def source_place(w: Workload, row: int) -> str:
    """Where job ``row`` of ``w`` is in its source: its id, line and submit time as the
    source has them (wall-clock with an origin, else the source's own seconds)."""
    parts = []
    job_id = str(w.job_id[row])
    if job_id:
        parts.append(f"job {job_id!r}")
    line = float(w.source_line[row])
    parts.append(f"line {line:.0f}" if line == line else f"row {row + 1}")
    if w.origin is not None:
        when = (w.origin + timedelta(seconds=float(w.submit_s[row]))).isoformat()
    else:
        when = f"{float(w.submit_s[row]):,.0f} s"
    return f"{', '.join(parts)}, submitted at {when}"


def fleet_for(
    w: Workload, fleet: tuple[FleetGroup, ...] | None, gpus: int | None
) -> tuple[FleetGroup, ...]:
    if fleet:
        return fleet
    if gpus is not None:
        if gpus <= 0 or gpus % 8:
            raise InputError(
                f"--gpus {gpus}: a homogeneous fleet is built of 8-GPU nodes",
            )
        types = sorted({str(t) for t in w.gpu_type.tolist() if t})
        gtype = types[0] if len(types) == 1 else NEUTRAL
        return (FleetGroup(gtype, 8, gpus // 8),)
    if w.fleet:
        return w.fleet
    raise InputError(
        f"{w.name}: the trace carries no fleet; give --gpus N (a homogeneous "
        "fleet of N GPUs, 8 per node) or --fleet SOURCE (a trace with a fleet)"
    )


def to_scenario(
    w: Workload,
    policy: str | PolicySpec = "fifo",
    *,
    fleet: tuple[FleetGroup, ...] | None = None,
    gpus: int | None = None,
    scale_load: float = 1.0,
    seed: int = 0,
    strict: bool = False,
    checkpoint_s: float = TRACE_CHECKPOINT_S,
    restore_s: float = TRACE_RESTORE_S,
) -> Scenario:
    """``checkpoint_s`` 0: no checkpoints, a preempted job restarts from zero."""
    if scale_load <= 0:
        raise InputError(f"--scale-load {scale_load}: must be a positive number")
    if not checkpoint_s >= 0 or math.isinf(checkpoint_s):
        raise InputError(
            f"--checkpoint-interval {checkpoint_s}: must be seconds >= 0 (0: no checkpoints)"
        )
    if not restore_s >= 0 or math.isinf(restore_s):
        raise InputError(f"--restore-overhead {restore_s}: must be seconds >= 0")
    groups = fleet_for(w, fleet, gpus)
    notes: list[str] = list(w.notes)
    catalog = default_catalog()
    extra = [
        GpuType(
            GpuTypeName(g.gpu_type),
            1.0,
            700,
            1275,
            0,
            80,
            ("unknown model from a trace: throughput 1.0 assumed",),
        )
        for g in groups
        if g.gpu_type not in catalog
    ]
    for t in sorted({x.name for x in extra}):
        notes.append(f"GPU model {t!r} is not in the catalog: throughput 1.0 assumed")
    catalog = catalog.with_types({x.name: x for x in extra}.values())
    fleet_types = {g.gpu_type for g in groups}
    biggest: dict[str, int] = defaultdict(int)
    for g in groups:
        biggest[g.gpu_type] += g.gpus
    table = _jobs(w, fleet_types, dict(biggest), catalog, scale_load, notes, strict)
    ck = checkpoint_s or None
    table.checkpoint_s, table.restore_s = ck, restore_s
    notes.append(
        f"preemption: checkpoint every {checkpoint_s:g} s of work, {restore_s:g} s to restore"
        if ck
        else "preemption: no checkpoints, a preempted job restarts from zero"
    )
    return _assemble(w, groups, table, catalog, policy, seed, notes)


def _jobs(
    w: Workload,
    fleet_types: set[str],
    capacity: dict[str, int],
    catalog: GpuCatalog,
    scale_load: float,
    notes: list[str],
    strict: bool = False,
) -> JobTable:
    """The jobs to replay, in submit order and source order among ties."""
    drops: dict[str, int] = defaultdict(int)
    rounded = 0
    table = JobTable(w.job_id)
    all_types = tuple(GpuTypeName(t) for t in sorted(fleet_types))
    models: dict[str, tuple[str | None, Types, int, float]] = {}
    for submit, dur, g, t, q, row in _rows(w):
        if not g or g <= 0:
            drops["CPU-only (no GPU)"] += 1
            continue
        if dur != dur or dur <= 0:  # NaN or not positive
            drops["unknown or zero duration"] += 1
            continue
        whole = math.ceil(g - 1e-9)
        if whole != g:
            rounded += 1
        t = str(t or "")
        model = models.get(t)
        if model is None:
            model = models[t] = _models(t, fleet_types, all_types, capacity, catalog)
        missing, types, most, speed = model
        if missing is not None:
            drops[missing] += 1
            continue
        if whole > most:
            if strict:
                raise InputError(
                    f"{w.source or w.name}: {source_place(w, row)}, asks for {whole} GPUs; "
                    f"no part of the fleet can hold it (at most {most} of "
                    f"{'/'.join(types)})",
                )
            drops["more GPUs than the fleet holds of its type"] += 1
            continue
        table.add(str(q or "default"), submit / scale_load, whole, dur * speed, types, row)
    if rounded:
        notes.append(f"{rounded} job(s) with fractional GPUs rounded up to whole GPUs")
    for why, n in sorted(drops.items()):
        notes.append(f"dropped {n} job(s): {why}")
    if scale_load != 1.0:
        notes.append(f"arrival times divided by {scale_load:g} (load x{scale_load:g})")
    return table


def _models(
    t: str,
    fleet_types: set[str],
    all_types: Types,
    capacity: dict[str, int],
    catalog: GpuCatalog,
) -> tuple[str | None, Types, int, float]:
    """For a job's recorded GPU model(s) ``t``: why it is dropped (None: kept), the models
    it may run on, the most GPUs of them one group holds, and its work's speed factor.
    ``"P100|T4"``: any of these models."""
    wanted = [x for x in t.split("|") if x]
    if wanted and not any(x in fleet_types for x in wanted):
        return f"GPU model {t!r} not in the fleet", (), 0, 1.0
    types = tuple(GpuTypeName(x) for x in wanted if x in fleet_types) or all_types
    most = max(capacity.get(x, 0) for x in types)
    speed = catalog.get(types[0]).throughput if wanted else 1.0
    return None, types, most, speed


def _assemble(
    w: Workload,
    groups: tuple[FleetGroup, ...],
    table: JobTable,
    catalog: GpuCatalog,
    policy: str | PolicySpec,
    seed: int,
    notes: list[str],
) -> Scenario:
    jobs = table.by_queue()
    if not jobs:
        raise InputError(f"{w.name}: no job left to replay ({'; '.join(notes) or 'empty'})")
    origin = w.origin or DEFAULT_ORIGIN
    last = max(table.submit_s)
    longest = max(table.work_s)
    # summed queue by queue, as over the drafts grouped by queue before: the same floats
    total_gpu_s = table.gpu_seconds(chain.from_iterable(jobs.values()))
    fleet_gpus = sum(g.gpus for g in groups)
    horizon = last + longest + total_gpu_s / max(1, fleet_gpus) + 3600
    pools = tuple(
        NodePool(
            PoolId(f"pool-{i}-{g.gpu_type}-{g.gpus_per_node}"),
            SiteId("trace-site"),
            GpuTypeName(g.gpu_type),
            g.gpus_per_node,
            g.nodes,
            EntityId("trace"),
            origin,
            0.0,
        )
        for i, g in enumerate(groups)
    )
    power_kw = sum(g.gpus * catalog.get(g.gpu_type).server_power_w for g in groups) / 1000 * 2
    share = _quota_shares(w, {q: table.gpu_seconds(js) for q, js in jobs.items()}, groups)
    programs = tuple(Program(ProgramId(q), EntityId("trace"), share[q]) for q in sorted(jobs))
    changes = _allocation_changes(w, jobs, groups, origin)
    # one stream per queue: ties across queues merge back into source order by each
    # draft's source_row (the simulator's arrival key)
    workloads = tuple((ProgramId(q), TableStream(table, at)) for q, at in jobs.items())
    return Scenario(
        name=f"replay:{w.name}",
        start=origin,
        end=origin + timedelta(seconds=horizon),
        seed=seed,
        catalog=catalog,
        sites=(Site(SiteId("trace-site"), power_kw, 1.0),),
        pools=pools,
        entities=(Entity(EntityId("trace"), CohortId("trace"), programs),),
        transfers=(),
        quota_changes=changes,
        policy=policy if isinstance(policy, PolicySpec) else PolicySpec(policy),
        cost=CostModel(2.0, "replay: $2 per GPU-hour, for scale only"),
        workloads=workloads,
        description="\n".join(notes),
        source_file=w.source,
    )


def _split(total: int, weights: dict[str, float]) -> dict[str, int]:
    """``total`` in whole GPUs in proportion to ``weights`` (largest remainder: the parts
    sum to ``total`` exactly)."""
    wsum = sum(weights.values())
    if total <= 0 or wsum <= 0:
        return {k: 0 for k in weights}
    raw = {k: total * w / wsum for k, w in weights.items()}
    out = {k: int(np.floor(v)) for k, v in raw.items()}
    left = total - sum(out.values())
    for k in sorted(raw, key=lambda k: (out[k] - raw[k], k))[:left]:
        out[k] += 1
    return out


def _per_type(groups: tuple[FleetGroup, ...]) -> dict[str, int]:
    per_type: dict[str, int] = defaultdict(int)
    for g in groups:
        per_type[g.gpu_type] += g.gpus
    return dict(sorted(per_type.items()))


def workload_drafts(
    w: Workload,
    types: tuple[GpuTypeName, ...],
    catalog: GpuCatalog,
    queue: str | None = None,
    scale_load: float = 1.0,
    offset_s: float = 0.0,
) -> tuple[list[JobDraft], list[str]]:
    """A trace's jobs (or one queue's) as one scenario program's drafts: the rules of
    :func:`to_scenario` for GPUs, durations and models; a recorded model the catalog knows
    is kept as the job's constraint, otherwise the program's ``types`` apply."""
    drafts: list[JobDraft] = []
    dropped = 0
    for submit, dur, g, t, q, row in _rows(w):
        if queue is not None and str(q) != queue:
            continue
        if not g or g <= 0 or dur != dur or dur <= 0:
            dropped += 1
            continue
        known = [GpuTypeName(x) for x in str(t or "").split("|") if x and x in catalog]
        speed = catalog.get(known[0]).throughput if known else 1.0
        drafts.append(
            JobDraft(
                submit / scale_load + offset_s,
                math.ceil(g - 1e-9),
                dur * speed,
                tuple(known) or types,
                source_row=row,
            )
        )
    notes = [f"dropped {dropped} job(s) without GPUs or a duration"] if dropped else []
    return drafts, notes


def _quota_shares(
    w: Workload, gpu_s: dict[str, float], groups: tuple[FleetGroup, ...]
) -> dict[str, tuple[tuple[GpuTypeName, Quota], ...]]:
    """Nominal GPUs per queue and type. A queue with an allocation series starts at its
    first value, spread over the GPU types in proportion to their capacity; the capacity
    left (if any) goes to the queues without one in proportion to their GPU-hours
    (``gpu_s``: each queue's work x GPUs)."""
    jobs = gpu_s
    per_type = _per_type(groups)
    sized = {q: w.allocations[q][0][1] for q in jobs if w.allocations.get(q)}
    demand = {q: v for q, v in gpu_s.items() if q not in sized}
    out: dict[str, list[tuple[GpuTypeName, Quota]]] = defaultdict(list)
    spread = {q: _split(int(a), dict(per_type)) for q, a in sized.items()}
    for t, cap in per_type.items():
        left = max(0, cap - sum(spread[q][t] for q in sized))
        rest = _split(left, demand) if demand else {}
        for q in sorted(jobs):
            n = spread[q][t] if q in sized else rest.get(q, 0)
            out[q].append((GpuTypeName(t), Quota(n)))
    return {q: tuple(v) for q, v in out.items()}


def _allocation_changes(
    w: Workload, jobs: Mapping[str, object], groups: tuple[FleetGroup, ...], origin: datetime
) -> tuple[QuotaChange, ...]:
    """Later points of each allocation series, spread over types like the first."""
    per_type = _per_type(groups)
    out = []
    for q, series in sorted(w.allocations.items()):
        if q not in jobs:
            continue
        for at_s, n in series[1:]:
            at = origin + timedelta(seconds=max(0.0, at_s))
            for t, part in _split(int(n), dict(per_type)).items():
                out.append(QuotaChange(at, ProgramId(q), GpuTypeName(t), part))
    return tuple(out)
