"""The forecast's validation against the real dev cluster (issue 12, item 5): a seeded
workload of short GPU jobs from two accounts, held behind a blocker and released together;
the forecast made at release, Slurm's actual starts read back from sacct, and both naive
orders computed on the same data. Used by ``tests/live/test_forecast_live.py`` and
``bench/forecast_validation.py``.

The scene (scripts/devcluster: gf-h100-1 and gf-h100-2 with 8 H100 each in partition
``h100``; accounts tesla (shares 60) and xai (shares 40, ``GrpTRES=gres/gpu=4``)):

1. two blocker jobs of account root take all 16 H100 (``sleep 600``);
2. the workload is submitted in order, one job at a time: job i is tesla1's in tesla with
   probability 0.65, else xai1's in xai; tesla asks 1, 2, 2, 4, 4 or 8 H100 and sleeps
   3-15 s, xai asks 2 H100 (``XAI_GPUS``) and sleeps 2-8 s (uniform whole seconds,
   seeded); every job's time limit is 1 minute (Slurm's smallest) so that the limits are
   known. Until 2026-12-07 xai asked 1, 1, 2, 2 or 4 (``MIXED_XAI_GPUS``, kept for the
   recorded runs): at its cap of 4 a one-GPU job of xai's may pass its held 4-GPU job, and
   whether it does turned on which of xai's jobs Slurm saw end first within a second, a
   race no command of Slurm's shows (see ``XAI_GPUS``). With one size, any of xai's ends
   lets its next job start, whichever came first, so the figures measure the rules (the
   cap, fair-share, backfill) rather than that race;
3. once Slurm has given every workload job a priority, the state is read (jobs, nodes,
   associations, fair-share, configuration), the blockers are cancelled: that instant is
   the release and the forecast's ``now``;
4. the forecast runs on the state less the blockers, three times: with each job's run
   time given (its sleep plus ``overhead_s``), from Slurm's fair-share factors; the same
   with the factors computed by the policy from Slurm's usage; and with time limits only;
5. when every workload job has ended, sacct gives the actual starts.

One user per account: the Slurm policies do not tell users inside an account apart (Slurm's
Fair Tree does), so the scene keeps that gap out of the figures and names it.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gpufleet.live.forecast import SlurmState, forecast_from_state, read_slurm_state
from gpufleet.live.forecast_compare import (
    Agreement,
    Submitted,
    agreement,
    fairshare_order,
    ranks,
    submit_order,
)
from gpufleet.live.forecast_result import Forecast
from gpufleet.live.mapping import load_mapping
from gpufleet.live.runner import RecordingRunner, ReplayRunner, SubprocessRunner
from gpufleet.live.slurm.cli import SlurmCliSource
from gpufleet.live.slurm.model import JobState
from tests.live.devcluster import DevCluster

MAPPING = Path(__file__).parent / "samples" / "mapping" / "devcluster.yaml"
GPU_BILLING = 10.0  # the dev cluster's TRESBillingWeights GRES/gpu (scripts/devcluster)


@dataclass(frozen=True)
class WorkJob:
    user: str
    account: str
    gpus: int
    sleep_s: int


# xai's sizes in the runs recorded until 2026-12-07 (docs/validation.md, "Discordant pairs,
# classified"): a one-GPU job could pass a 4-GPU one held at xai's cap
MIXED_XAI_GPUS = (1, 1, 2, 2, 4)
# every xai job's size since: at the cap of 4 GPUs two of xai's jobs run, and each end
# frees room for exactly its next job. Which of two ends Slurm sees first is not
# observable: a node with a job completing is left out of both schedulers' node choice
# until its epilog completion reaches slurmctld (node_scheduler.c ``_pick_best_nodes``
# clears ``cg_node_bitmap``; backfill.c ``_attempt_backfill``: "Need to wait for
# in-progress completion/epilog"), which then runs a pass (proc_req.c
# ``_slurm_rpc_epilog_complete``) or waits for the next periodic one: in the twelve runs
# whose slurmctld.log was kept, a start on a node within 3 s of a job's end there came
# 0.01 s to 2 s after it (median 0.86 s, 18% within 0.1 s); sacct and squeue: whole seconds
XAI_GPUS = 2


def workload(seed: int, n: int, xai_gpus: int | None = XAI_GPUS) -> list[WorkJob]:
    """The seeded workload of step 2 of the module docstring. ``xai_gpus``: every xai job's
    size; None: the mixed sizes of the runs recorded before (``MIXED_XAI_GPUS``). The
    draws are the same either way, so tesla's jobs and xai's sleeps do not change."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if rng.random() < 0.65:
            out.append(
                WorkJob("tesla1", "tesla", rng.choice((1, 2, 2, 4, 4, 8)), rng.randint(3, 15))
            )
        else:
            mixed = rng.choice(MIXED_XAI_GPUS)
            gpus = mixed if xai_gpus is None else xai_gpus
            out.append(WorkJob("xai1", "xai", gpus, rng.randint(2, 8)))
    return out


@dataclass(frozen=True)
class Outcome:
    """What one validation run measured."""

    seed: int
    jobs: int
    release: datetime
    last_start_s: float  # the last actual start, seconds after release
    told: Agreement  # the forecast with run times given
    computed: Agreement  # the same, fair-share computed from usage
    limits: Agreement  # the forecast with time limits only
    by_submit: Agreement
    by_fairshare: Agreement
    fairshare: dict[str, float]
    forecast_wall_s: float
    policy: str
    options: dict[str, float | int | str | bool]
    not_modelled: tuple[str, ...]
    xai_gpus: int | None = None  # every xai job's size; None: MIXED_XAI_GPUS


def submit(cluster: DevCluster, job: WorkJob, name: str) -> int:
    argv = ["runuser", "-u", job.user, "--", "sbatch", "--parsable", "-A", job.account]
    argv += ["-p", "h100", f"--gres=gpu:h100:{job.gpus}", "-t", "1", "-J", name]
    argv += ["--chdir=/tmp", "-o", "/dev/null", "--wrap", f"sleep {job.sleep_s}"]
    return int(cluster.slurm(*argv).split(";")[0])


def blocker(cluster: DevCluster) -> int:
    argv = ["sbatch", "--parsable", "-A", "root", "-p", "h100", "--gres=gpu:h100:8"]
    argv += ["-t", "10", "-J", "fcv-blocker", "--chdir=/tmp", "-o", "/dev/null"]
    return int(cluster.slurm(*argv, "--wrap", "sleep 600").split(";")[0])


def _wait(what: str, ok: object, timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while not ok():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.5)


def _states(cluster: DevCluster, ids: list[int]) -> dict[int, tuple[str, int]]:
    """Job id -> (state, priority) from squeue for ``ids`` still listed."""
    text = cluster.slurm("squeue", "-h", "-a", "-o", "%i %T %Q")
    out: dict[int, tuple[str, int]] = {}
    wanted = set(ids)
    for line in text.splitlines():
        jid, state, prio = line.split()
        if int(jid) in wanted:
            out[int(jid)] = (state, int(prio))
    return out


@contextmanager
def cleaned(cluster: DevCluster, ids: list[int]) -> Iterator[None]:
    """Cancel every job of the run on the way out, whatever happened."""
    try:
        yield
    finally:
        if ids:
            cluster.slurm("scancel", *[str(i) for i in ids])


def run_validation(
    cluster: DevCluster,
    seed: int = 12,
    n: int = 80,
    overhead_s: float = 1.0,
    record: Path | None = None,
    xai_gpus: int | None = XAI_GPUS,
) -> Outcome:
    """Steps 1-5 of the module docstring; the cluster must have no other job. With
    ``record``, Slurm's answers are saved there (``RecordingRunner``'s layout) with
    ``scene.json`` (the release instant, each workload job and its actual start), so that
    the forecast can be made again from the same state (:func:`replay_scene`)."""
    load_mapping(MAPPING)  # a bad mapping fails here, before any job is submitted
    source = cluster.cli()
    if record is not None:
        source = SlurmCliSource(RecordingRunner(SubprocessRunner(env=cluster.env), record))
    busy = cluster.slurm("squeue", "-h", "-o", "%i")
    if busy:
        raise AssertionError(f"the dev cluster runs other jobs ({busy.split()}): cannot validate")
    jobs = workload(seed, n, xai_gpus)
    ids: list[int] = []
    started_at = datetime.now(UTC) - timedelta(seconds=5)
    with cleaned(cluster, ids):
        blockers = [blocker(cluster), blocker(cluster)]
        ids += blockers
        _wait(
            "blockers running",
            lambda: all(s == "RUNNING" for s, _ in _states(cluster, blockers).values()),
            30,
        )
        work: dict[int, WorkJob] = {}
        for i, job in enumerate(jobs):
            jid = submit(cluster, job, f"fcv-{seed}-{i}")
            ids.append(jid)
            work[jid] = job
        _wait(
            "priorities set",
            lambda: all(p > 1 for _, p in _states(cluster, list(work)).values()),
            90,
        )
        state = read_slurm_state(source)
        cluster.slurm("scancel", *[str(b) for b in blockers])
        release = datetime.now(UTC)
        state = replace(state, jobs=tuple(j for j in state.jobs if j.job_id not in blockers))
        forecasts = _forecasts(state, release, work, overhead_s)
        _wait("workload done", lambda: not _states(cluster, list(work)), 420)
        actual = _actual_starts(source, work, release, started_at)
    if record is not None:
        _save_scene(record, seed, release, blockers, work, actual)
    return replace(_outcome(seed, release, state, work, forecasts, actual), xai_gpus=xai_gpus)


def _forecasts(
    state: SlurmState, release: datetime, work: dict[int, WorkJob], overhead_s: float
) -> tuple[Forecast, Forecast, Forecast]:
    """Step 4 of the module docstring: run times given with Slurm's fair-share factors,
    the same with the factors computed from usage, and time limits only."""
    mapping = load_mapping(MAPPING)
    told = {jid: w.sleep_s + overhead_s for jid, w in work.items()}
    forecast = forecast_from_state(
        state, mapping, release, run_time_s=told, usage_per_gpu_s=GPU_BILLING
    )
    computed = forecast_from_state(
        state,
        mapping,
        release,
        run_time_s=told,
        usage_per_gpu_s=GPU_BILLING,
        slurm_fairshare=False,
    )
    by_limits = forecast_from_state(state, mapping, release, usage_per_gpu_s=GPU_BILLING)
    return forecast, computed, by_limits


SCENE = "scene.json"


def _save_scene(
    folder: Path,
    seed: int,
    release: datetime,
    blockers: list[int],
    work: dict[int, WorkJob],
    actual: dict[int, float],
) -> None:
    scene = {
        "seed": seed,
        "release": release.isoformat(),
        "blockers": blockers,
        "work": {
            str(jid): {"user": w.user, "account": w.account, "gpus": w.gpus, "sleep_s": w.sleep_s}
            for jid, w in work.items()
        },
        "actual_start_s": {str(jid): s for jid, s in actual.items()},
    }
    (folder / SCENE).write_text(json.dumps(scene, indent=1) + "\n")


def _actual_starts(
    source: SlurmCliSource, work: dict[int, WorkJob], release: datetime, since: datetime
) -> dict[int, float]:
    """Seconds after release at which each workload job started, from sacct (which lags
    the controller: asked until it lists them all)."""
    found: dict[int, float] = {}

    def complete() -> bool:
        found.clear()
        for j in source.history(since):
            if j.job_id in work and j.start_time is not None and j.state is JobState.COMPLETED:
                found[j.job_id] = (j.start_time - release).total_seconds()
        return len(found) == len(work)

    _wait("sacct lists every workload job", complete, 60)
    return found


def _starts(forecast: Forecast, now: datetime) -> dict[int, float]:
    return {j.job_id: (j.start - now).total_seconds() for j in forecast.pending if j.start}


def _outcome(
    seed: int,
    release: datetime,
    state: SlurmState,
    work: dict[int, WorkJob],
    forecasts: tuple[Forecast, Forecast, Forecast],
    actual: dict[int, float],
) -> Outcome:
    forecast, computed, by_limits = forecasts
    listed = {j.job_id: j for j in state.jobs if j.job_id in work}
    submitted = [Submitted(jid, j.account, j.submit_time) for jid, j in listed.items()]
    factor = {
        f.account: f.fairshare
        for f in state.fairshare
        if f.user and f.fairshare is not None and f.user in {w.user for w in work.values()}
    }
    return Outcome(
        seed=seed,
        jobs=len(work),
        release=release,
        last_start_s=max(actual.values()),
        told=agreement(_starts(forecast, release), actual, timed=True),
        computed=agreement(_starts(computed, release), actual, timed=True),
        limits=agreement(_starts(by_limits, release), actual, timed=True),
        by_submit=agreement(ranks(submit_order(submitted)), actual, timed=False),
        by_fairshare=agreement(ranks(fairshare_order(submitted, factor)), actual, timed=False),
        fairshare=factor,
        forecast_wall_s=forecast.wall_s,
        policy=forecast.policy.name,
        options=dict(forecast.policy.options),
        not_modelled=forecast.not_modelled,
    )


@dataclass(frozen=True)
class Scene:
    """A recorded run (``run_validation(record=...)``): the state Slurm answered at
    release, less the blockers, the release instant, the workload and the actual starts."""

    seed: int
    release: datetime
    state: SlurmState
    work: dict[int, WorkJob]
    actual: dict[int, float]


def load_scene(folder: Path) -> Scene:
    """The recorded run in ``folder``, Slurm's answers replayed (no cluster needed)."""
    meta = json.loads((folder / SCENE).read_text())
    blockers = set(meta["blockers"])
    release = datetime.fromisoformat(meta["release"])
    source = SlurmCliSource(ReplayRunner.from_directory(folder), clock=lambda: release)
    state = read_slurm_state(source)
    state = replace(state, jobs=tuple(j for j in state.jobs if j.job_id not in blockers))
    work = {int(k): WorkJob(**v) for k, v in meta["work"].items()}
    actual = {int(k): float(v) for k, v in meta["actual_start_s"].items()}
    return Scene(meta["seed"], release, state, work, actual)


def replay_starts(scene: Scene, overhead_s: float = 1.0, **options: object) -> dict[int, float]:
    """The forecast made again from a recorded run's state, with run times given: each
    workload job's predicted start, seconds after release."""
    told = {jid: w.sleep_s + overhead_s for jid, w in scene.work.items()}
    forecast = forecast_from_state(
        scene.state,
        load_mapping(MAPPING),
        scene.release,
        run_time_s=told,
        usage_per_gpu_s=GPU_BILLING,
        **options,  # type: ignore[arg-type]
    )
    return _starts(forecast, scene.release)


def replay_outcome(scene: Scene, overhead_s: float = 1.0) -> Outcome:
    """What :func:`run_validation` measured, measured again from a recorded run: the three
    forecasts made anew from its state and both naive orders, against its actual starts."""
    forecasts = _forecasts(scene.state, scene.release, scene.work, overhead_s)
    got = _outcome(scene.seed, scene.release, scene.state, scene.work, forecasts, scene.actual)
    sizes = {w.gpus for w in scene.work.values() if w.account == "xai"}
    return replace(got, xai_gpus=sizes.pop() if len(sizes) == 1 else None)
