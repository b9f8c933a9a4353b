"""One observation cycle: read the register, ask the configured sources, observe, store.
What ``gpufleet observe`` runs once or every interval, and the server's live poller each
period.

1. the register (:func:`gpufleet.live.plan.read_register`): the plan, its names, groups;
2. the mapping, checked against the plan's catalog (a GPU type the catalog lacks is an
   error of the file: exit 2, nothing stored); an entry naming what the register lacks
   (an entity, a program) or a program under another entity than the register's is
   recorded as a failure of source ``mapping``, with file, line and field, and left out
   (its account's or namespace's GPUs are recorded as unmapped, its nodes placed
   nowhere: never counted under the wrong entity); the rest is observed;
3. the sources (:class:`Sources`), all at once (:func:`gpufleet.live.reading.read_all`,
   one thread each: a cycle waits for the slowest source, not their sum): one that fails
   (unreachable, refused, malformed answer) is a recorded failure naming the source and
   the field;
4. :func:`gpufleet.live.observe.observe` against the GPUs registered now;
5. :func:`gpufleet.live.store.ingest` in one writing transaction (with compaction).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from gpufleet.errors import InputError
from gpufleet.gcpause import gc_paused
from gpufleet.governance.store.db import Store
from gpufleet.live.config import LiveSettings, headers_from_env
from gpufleet.live.errors import SourceError
from gpufleet.live.kubernetes import KubernetesSource
from gpufleet.live.mapping import ClusterMapping, mapping_for_register
from gpufleet.live.observation import Observation, SourceFailure
from gpufleet.live.observe import observe
from gpufleet.live.plan import RegisterView, read_register, registered_at
from gpufleet.live.prometheus import PrometheusSource, UrllibTransport
from gpufleet.live.reading import read_all
from gpufleet.live.runner import SubprocessRunner
from gpufleet.live.slurm import JobDetails, SlurmCliSource, SlurmReader, open_slurm
from gpufleet.live.store import Ingested, LiveConfig, ingest


@dataclass(frozen=True)
class Sources:
    """The sources one cycle asks (None: not configured), and those that could not even
    be opened (slurmrestd's version discovery failing, a credential variable unset)."""

    slurm: SlurmReader | None = None
    prometheus: PrometheusSource | None = None
    kubernetes: KubernetesSource | None = None
    util_window_s: int | None = None
    failures: tuple[SourceFailure, ...] = ()


def open_sources(
    settings: LiveSettings,
    environ: Mapping[str, str] = os.environ,
    details: JobDetails | None = None,
) -> Sources:
    """The real clients of the sources the file configures. ``details``: what Slurm's
    text job list lacks, as found by earlier cycles (a caller that opens the sources for
    each cycle keeps one and passes it, so each running job is looked up once)."""
    cfg = settings.model.sources
    failures: list[SourceFailure] = []
    slurm: SlurmReader | None = None
    if cfg.slurm is not None:
        try:
            if cfg.slurm.mode == "commands":
                runner = SubprocessRunner(cfg.slurm.env, cfg.slurm.timeout)
                slurm = SlurmCliSource(
                    runner,
                    jobs_format=cfg.slurm.jobs,
                    details=details,
                    nodes_format=cfg.slurm.nodes,
                )
            else:
                slurm = open_slurm("rest", cfg.slurm.env, cfg.slurm.rest_socket)
        except SourceError as e:
            failures.append(SourceFailure("slurm", e.source, e.render()))
    prometheus = None
    window = None
    if cfg.prometheus is not None:
        try:
            headers = headers_from_env(cfg.prometheus, environ)
        except InputError as e:
            failures.append(SourceFailure("prometheus", cfg.prometheus.url, str(e)))
        else:
            transport = UrllibTransport(cfg.prometheus.timeout, headers)
            prometheus = PrometheusSource(cfg.prometheus.url, transport)
            w = cfg.prometheus.util_window
            window = int(w) if w is not None else None
    kube = None
    if cfg.kubernetes is not None:
        k = cfg.kubernetes
        if k.snapshots is not None:
            kube = KubernetesSource.from_snapshots(settings.resolve(k.snapshots))
        else:
            kube = KubernetesSource(SubprocessRunner(k.kubectl.env if k.kubectl else {}))
    return Sources(slurm, prometheus, kube, window, tuple(failures))


def checked_mapping(
    settings: LiveSettings, register: RegisterView
) -> tuple[ClusterMapping, tuple[SourceFailure, ...]]:
    """The mapping (raises :class:`MappingError` for a problem of the file itself) with
    the entries the register contradicts left out, and those entries' problems as
    failures of source ``mapping``
    (:func:`gpufleet.live.mapping.mapping_for_register`)."""
    mapping, problems = mapping_for_register(
        settings.mapping_text,
        str(settings.mapping_path),
        register.plan.catalog,
        register.entities,
        register.program_entities,
    )
    return mapping, tuple(
        SourceFailure("mapping", f"{p.file}:{p.line}: {p.field}" if p.line else p.field, p.render())
        for p in problems
    )


@dataclass(frozen=True)
class CycleResult:
    observation: Observation
    ingested: Ingested
    read_s: float  # asking the sources (at once: the slowest one's time)
    store_s: float  # the writing transaction


def observe_cycle(
    store: Store,
    settings: LiveSettings,
    sources: Sources,
    at: datetime | None = None,
    actor: str = "live:observe",
) -> CycleResult:
    """One cycle (see the module docstring); ``at`` defaults to now, to the second."""
    when = at or datetime.now(UTC).replace(microsecond=0)
    with store.read() as s:
        register = read_register(s)
    mapping, mapping_failures = checked_mapping(settings, register)
    t0 = time.perf_counter()
    with gc_paused():  # the answers' parse: at 10,000 GPUs, a fifth of a cycle's time
        read = read_all(
            sources.slurm, sources.kubernetes, sources.prometheus, when, sources.util_window_s
        )
        read_s = time.perf_counter() - t0
        obs = observe(
            when,
            mapping,
            registered_at(register.plan, when),
            slurm=read.slurm,
            kubernetes=read.kubernetes,
            gpus=read.gpus,
            busy_threshold_pct=settings.model.busy_threshold_pct,
        )
    obs = replace(obs, failures=(*sources.failures, *mapping_failures, *obs.failures))
    t1 = time.perf_counter()
    with store.write(actor) as tx:
        done = ingest(
            tx, obs, settings.model.every, LiveConfig(settings.text, settings.mapping_text)
        )
    return CycleResult(obs, done, read_s, time.perf_counter() - t1)
