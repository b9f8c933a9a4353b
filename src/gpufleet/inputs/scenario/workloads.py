"""A program's ``workload:`` block -> a seeded stream factory of JobDrafts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Protocol

from gpufleet.domain.gpus import GpuCatalog
from gpufleet.domain.ids import GpuTypeName
from gpufleet.domain.jobs import JobDraft
from gpufleet.errors import Problem
from gpufleet.inputs.scenario.dates import as_datetime
from gpufleet.inputs.scenario.schema import GeneratorIn, ProgramIn, TopologyIn, TraceIn
from gpufleet.inputs.scenario.yamlsrc import KeyPath, Located, dotted
from gpufleet.inputs.traces.generator import FixedJobs, Generator, ProgramWorkload
from gpufleet.inputs.traces.trace_csv import read_csv_trace


class Context(Protocol):
    catalog: GpuCatalog
    start: datetime
    end: datetime
    base: Path
    file: str
    src: Located
    files: bool  # False: traces by registry name only, no file opened (an API request)


def build_workload(
    p: ProgramIn, path: KeyPath, ctx: Context
) -> tuple[ProgramWorkload | None, list[Problem]]:
    w = p.workload
    assert w is not None
    problems: list[Problem] = []

    def err(sub: KeyPath, message: str, expected: str = "") -> None:
        problems.append(Problem(dotted(sub), message, expected, ctx.file, ctx.src.line(sub)))

    def secs(d: date | datetime) -> float:
        return (as_datetime(d) - ctx.start).total_seconds()

    def types(given: list[str] | None, sub: KeyPath) -> tuple[GpuTypeName, ...]:
        names = given if given is not None else list(p.quotas)
        if not names:
            err(
                sub,
                "no GPU types: the program has no quotas to take them from",
                "gpu_types: [..] naming the types its jobs may use",
            )
        for i, n in enumerate(names if given is not None else ()):  # quotas' are checked there
            if n not in ctx.catalog:
                err(
                    (*sub, i),
                    f"unknown GPU type {n!r}",
                    "one of " + ", ".join(ctx.catalog.names()) + " (or add it under gpu_types)",
                )
        return tuple(GpuTypeName(n) for n in names)

    sources: list[Generator | FixedJobs] = []
    gens = ([w.generator] if w.generator else []) + list(w.generators)
    for gi, g in enumerate(gens):
        gp: KeyPath = (
            (*path, "generator")
            if w.generator and gi == 0
            else (*path, "generators", gi - (1 if w.generator else 0))
        )
        start_s = secs(g.start) if g.start else 0.0
        end_s = secs(g.end) if g.end else (ctx.end - ctx.start).total_seconds()
        if end_s <= start_s and g.end is not None:
            err(
                (*gp, "end"),
                f"the generator ends ({as_datetime(g.end):%Y-%m-%d}) before it starts "
                f"({ctx.start + timedelta(seconds=start_s):%Y-%m-%d})",
                "an end after the generator's start (or the scenario's)",
            )
        elif start_s < 0 and g.start is not None:
            err(
                (*gp, "start"),
                f"the generator starts ({as_datetime(g.start):%Y-%m-%d}) before the scenario "
                f"({ctx.start:%Y-%m-%d})",
                "a start on or after the scenario's start (or none: from the start)",
            )
        elif end_s <= start_s and g.start is not None and ctx.end > ctx.start:
            err(
                (*gp, "start"),
                f"the generator starts ({as_datetime(g.start):%Y-%m-%d}) after the scenario "
                f"ends ({ctx.end:%Y-%m-%d})",
                "a start before the scenario's end",
            )
        prio = p.priority if g.priority is None else g.priority
        sources.append(_generator(g, types(g.gpu_types, (*gp, "gpu_types")), start_s, end_s, prio))
    drafts: list[JobDraft] = []
    for ji, j in enumerate(w.jobs):
        jp: KeyPath = (*path, "jobs", ji)
        t0 = secs(j.submit)
        if t0 < 0:
            err(
                (*jp, "submit"),
                "submitted before the scenario starts",
                f"a date on or after {ctx.start:%Y-%m-%d}",
            )
        work_h = j.duration_hours if j.duration_hours is not None else (j.gpu_hours or 0) / j.gpus
        ts = types(j.gpu_types, (*jp, "gpu_types"))
        ck = j.checkpoint_hours * 3600 if j.checkpoint_hours else None
        for k in range(j.count):
            name = j.name if j.count == 1 else f"{j.name}#{k + 1}"
            drafts.append(
                JobDraft(
                    max(0.0, t0) + k * j.every_hours * 3600,
                    j.gpus,
                    work_h * 3600,
                    ts,
                    p.priority if j.priority is None else j.priority,
                    j.preemptible,
                    ck,
                    name,
                    j.time_limit_hours * 3600 if j.time_limit_hours else None,
                    *_topology(j.topology),
                    restore_s=j.restore_overhead_hours * 3600,
                )
            )
    if drafts:
        drafts.sort(key=lambda d: d.submit_s)
        sources.append(FixedJobs(tuple(drafts)))
    if w.trace is not None and not ctx.files:
        tp = (*path, "trace")
        problem = registry_only_problem(w.trace.path, w.trace.source)
        if problem is not None:
            err((*tp, problem[0]), problem[1], problem[2])
            return None, problems
    if w.trace is not None and w.trace.source is not None:
        tp = (*path, "trace")
        got = _trace_source(w.trace, types(w.trace.gpu_types, (*tp, "gpu_types")), ctx)
        if isinstance(got, str):
            err((*tp, "source"), got, "a name from 'gpufleet trace list' or a readable file")
        elif got and got[0].submit_s < 0:
            err(
                (*tp, "time_offset_hours"),
                "the offset puts jobs before the scenario starts",
                "an offset that keeps every submit time at or after 0",
            )
        elif not got:
            err(
                (*tp, "queue") if w.trace.queue else (*tp, "source"),
                "no job of the trace is left for this program",
                "a queue the trace has",
            )
        else:
            sources.append(FixedJobs(tuple(got)))
    elif w.trace is not None:
        tp = (*path, "trace")
        assert w.trace.path is not None
        if w.trace.format != "csv":
            err((*tp, "format"), f"unknown trace format {w.trace.format!r}", "csv")
        else:
            trace_path = Path(w.trace.path)
            if not trace_path.is_absolute():
                trace_path = ctx.base / trace_path
            ts = types(w.trace.gpu_types, (*tp, "gpu_types"))
            if not trace_path.is_file():
                err(
                    (*tp, "path"),
                    f"{str(trace_path)!r} is a directory"
                    if trace_path.is_dir()
                    else f"no such file {str(trace_path)!r}",
                    "a CSV file path, absolute or relative to the scenario file",
                )
            else:
                tr, tprobs = read_csv_trace(
                    trace_path, ts, ctx.catalog.names(), w.trace.time_offset_hours * 3600
                )
                problems += tprobs
                early = [d for d in tr.drafts if d.submit_s < 0] if tr is not None else []
                if early:
                    err(
                        (*tp, "time_offset_hours"),
                        f"the offset puts {len(early)} job(s) before the scenario starts "
                        f"(the first at {early[0].submit_s / 3600:.2f} h)",
                        "an offset that keeps every submit time at or after 0",
                    )
                elif tr is not None:
                    sources.append(FixedJobs(tr.drafts))
    if problems:
        return None, problems
    return ProgramWorkload(tuple(sources)), problems


def registry_only_problem(path: object, source: object) -> tuple[str, str, str] | None:
    """(field, message, expected) when a trace given over the API names anything but a
    registry trace; None when it names one. Decided from the names alone: the file system
    is not consulted, so the answer reveals nothing about the server's files."""
    from gpufleet.inputs.traces.registry import known_traces

    names = sorted(t.name for t in known_traces())
    expected = "one of the registry's traces: " + ", ".join(names)
    if path is not None:
        return (
            "path",
            "a request may not name a file on the server; seed file traces with "
            "'gpufleet db seed FILE' on the server",
            expected,
        )
    if not isinstance(source, str) or source not in names:
        return (
            "source",
            f"{str(source)[:100]!r} is not a trace of the registry (a request may name "
            "registry traces only, not files on the server)",
            expected,
        )
    return None


def _trace_source(t: TraceIn, types: tuple[GpuTypeName, ...], ctx: Context) -> list[JobDraft] | str:
    """The program's jobs from any trace source, or the loading error's message."""
    from gpufleet.errors import InputError
    from gpufleet.inputs.traces.registry import load_source
    from gpufleet.inputs.traces.replay import workload_drafts
    from gpufleet.inputs.traces.rows import RowPolicy

    src = t.source or ""
    local = ctx.base / src
    use_local = ctx.files and not Path(src).is_absolute() and local.exists()
    name = str(local) if use_local else src
    kwargs: dict[str, str] = {}
    if t.map:
        kwargs["column_map"] = t.map
    if t.time_format:
        kwargs["time_format"] = t.time_format
    try:
        w = load_source(name, RowPolicy(name), **kwargs)
    except InputError as e:
        return str(e)
    drafts, _notes = workload_drafts(
        w, types, ctx.catalog, t.queue, t.scale_load, t.time_offset_hours * 3600
    )
    return drafts


def _generator(
    g: GeneratorIn, ts: tuple[GpuTypeName, ...], start_s: float, end_s: float, priority: int
) -> Generator:
    if isinstance(g.gpus, int):
        gc: tuple[int, ...] = (g.gpus,)
        gw: tuple[float, ...] = ()
    else:
        gc, gw = tuple(g.gpus.choices), tuple(g.gpus.weights or ())
    d = g.duration_hours
    if isinstance(d, float | int):
        dc: tuple[float, ...] = (float(d),)
        dw: tuple[float, ...] = ()
        med, sig, lo, hi = None, 0.0, None, None
    else:
        med = d.lognormal.median if d.lognormal else None
        sig = d.lognormal.sigma if d.lognormal else 0.0
        dc, dw, lo, hi = tuple(d.choices or ()), tuple(d.weights or ()), d.min, d.max
    ck = g.checkpoint_hours * 3600 if g.checkpoint_hours else None
    required, preferred = _topology(g.topology)
    gen = Generator(
        g.jobs_per_day,
        gc,
        gw,
        med,
        sig,
        dc,
        dw,
        lo,
        hi,
        start_s,
        end_s,
        ts,
        priority,
        g.preemptible,
        ck,
        g.name,
        g.time_limit_hours * 3600 if g.time_limit_hours else None,
        g.restore_overhead_hours * 3600,
    )
    if required is None and preferred is None:
        return gen
    return TopologyGenerator(
        **{f.name: getattr(gen, f.name) for f in fields(Generator)},
        topology_required=required,
        topology_preferred=preferred,
    )


def _topology(t: TopologyIn | None) -> tuple[str | None, str | None]:
    """(required level, preferred level) of a job's ``topology:`` block."""
    return (None, None) if t is None else (t.required, t.preferred)


@dataclass(frozen=True)
class TopologyGenerator(Generator):
    """A generator whose jobs carry a topology constraint. A subclass, so that
    ``ProgramWorkload.scaled`` still treats it as a generator; the draws (and so the jobs
    for a seed) are the plain generator's."""

    topology_required: str | None = None
    topology_preferred: str | None = None

    def stream(self, seed: int) -> Iterator[JobDraft]:
        req, pref = self.topology_required, self.topology_preferred
        for d in super().stream(seed):
            yield d._replace(topology_required=req, topology_preferred=pref)
