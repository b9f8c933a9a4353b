"""One observation cycle for 10,000 GPUs from a real Slurm 22.05 and a real Prometheus
(issue 12, "Benchmarks": aim under 2 s), with its parts, against the same cycle on the
running 3-node dev cluster measured in the same run.

The cycle is :func:`gpufleet.live.cycle.observe_cycle` with the sources of
:func:`gpufleet.live.cycle.open_sources`: what ``gpufleet observe --config FILE`` runs
(the register read, the mapping checked, every Slurm command or slurmrestd call, the
Prometheus utilisation query (three DCGM queries until run 12), the facts and the
observation, the store's writing
transaction). The only addition is a timing wrapper around each seam (the command runner
and the HTTP transport), which passes every call through unchanged.

The 10,000 GPUs (bench/observe_cluster.py says what is real and what is declared only): a
second dev-cluster instance (its own state folder, cluster name and ports; the running dev
cluster is left alone) of 1,250 nodes of 8 GPUs, 40 with a real slurmd, 100 running jobs
on their 320 GPUs, 5,000 pending jobs, and Prometheus scraping the DCGM exporter's 30,000
series. It is brought up, observed, and taken down (``down --purge`` with the same
settings: its own PIDs only) by this one command.

Arms, in turn within each repeat: ``commands`` (the target's figure: Slurm's commands with
the job list from squeue's text fields and the nodes from sinfo's, the sources kept from
cycle to cycle as ``observe --every`` and the server's poller keep them: the steady
state, after one uncounted first cycle), ``commands_nodes_json`` (the same, steady too,
with the nodes from ``sinfo --json``: the cycle before sinfo's text fields),
``commands_cold`` (the first with fresh sources: an observer's first cycle),
``commands_json`` (the job list from ``squeue --json``, the nodes from ``sinfo --json``),
``rest`` (slurmrestd), then ``baseline``.

Parts of a cycle (medians of the repeats, seconds):

- ``slurm_commands_s``: squeue, sinfo and sacctmgr run as processes (``slurm_by_command``
  each; the text list's lookups too: ``slurm_lookups`` scontrol calls and
  ``slurm_json_reads`` squeue --json reads in the cycle), added up although the cycle
  runs them at once (``read_s`` is the wall time of all the sources read together);
  ``slurm_parse_s``: their answers parsed, timed again from the recorded answers;
- ``prometheus_http_s``: the queries asked and answered (Prometheus's evaluation and
  the transfer), added up where several are asked at once; ``prometheus_parse_s``:
  the answers read into GPU samples, likewise;
- ``register_s``: the register and the mapping read and checked; ``observe_s``: facts,
  capacity, use, demand (:func:`gpufleet.live.observe.observe`);
- ``store_s``: the writing transaction (SQLite); ``total_s``: ``observe_cycle`` end to
  end, timed around the call; ``sum_of_parts_s``: the parts added up (the parses and the
  observation are timed again apart from the cycle, so the two differ by the noise of
  this shared machine; since the sources are read at once, the parts add up to more
  than the whole).

Baseline: the same cycle, same code, on the normal dev cluster (3 nodes, 20 GPUs), as
many repeats, right after the 10k cycles while the 10k cluster still runs (so that its
daemons load this shared machine alike), holding the dev cluster's test lock while it
reads (it waits its turn behind other sessions' live tests, ``--lock-wait``). It shows what
a cycle costs whatever the fleet's size (sacctmgr alone takes about 0.35 s).

    .venv/bin/python bench/observe_bench.py [--repeats 7] [--keep-up] [--reuse]

Needs root (scripts/devcluster/up). Writes bench/observe_results.json.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import fcntl
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import observe_cluster as cluster
from gpufleet.cli.main import main as gpufleet_main
from gpufleet.governance.store.db import Store
from gpufleet.live.config import LiveSettings, load_settings
from gpufleet.live.cycle import Sources, checked_mapping, observe_cycle, open_sources
from gpufleet.live.observe import observe
from gpufleet.live.plan import read_register, registered_at
from gpufleet.live.prometheus import PrometheusSource
from gpufleet.live.prometheus.transport import (
    ReplayTransport,
)
from gpufleet.live.reading import read_prometheus, read_slurm
from gpufleet.live.runner import ReplayRunner, command_text
from gpufleet.live.slurm import JobDetails, SlurmCliSource
from gpufleet.live.slurm.cli import SACCTMGR_ASSOC
from observe_timing import TimedRunner, TimedTransport, observed

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "observe_results.json"
TARGET_S = 2.0
GOVERNANCE = ROOT / "src" / "gpufleet" / "data" / "article-governance.yaml"
DEV_STATE = Path(os.environ.get("GPUFLEET_DEVCLUSTER_STATE", "/tmp/gpufleet-devcluster"))
DEV_LOCK = DEV_STATE / "live-tests.lock"
DEV_REGISTER = ROOT / "tests" / "live" / "register" / "devcluster.yaml"
DEV_MAPPING = ROOT / "tests" / "live" / "samples" / "mapping" / "devcluster.yaml"


ARMS = ("commands", "commands_nodes_json", "commands_cold", "commands_json", "rest", "baseline")
PARTS = (  # what sum_of_parts_s adds up
    *("slurm_commands_s", "slurm_rest_read_and_parse_s", "slurm_parse_s"),
    *("prometheus_http_s", "prometheus_parse_s", "register_s", "observe_s", "store_s"),
)
BASELINES = {
    "dev-cluster": "the same observe_cycle on the running dev cluster (3 nodes, 20 GPUs, "
    "its register tests/live/register/devcluster.yaml), after the 10k cycles while the 10k "
    "cluster still runs, under the dev cluster's test lock",
    "recorded": "the dev cluster's test lock was taken by other runs for --lock-wait: the "
    "same observe_cycle on the dev cluster's answers recorded in tests/live/samples "
    "(story-slurm, prometheus), replayed: no Slurm command or HTTP time, the parse, "
    "observation and store only",
}


def live_yaml(
    mapping: Path,
    slurm_conf: str,
    prometheus_url: str,
    rest: str = "",
    jobs: str = "text",
    nodes: str = "text",
) -> str:
    """The configuration ``gpufleet observe --config`` reads (docs/live.md)."""
    if rest:
        slurm = f"{{mode: rest, rest_socket: {rest}}}"
    else:
        env = f"env: {{SLURM_CONF: {slurm_conf}}}"
        slurm = f"{{mode: commands, jobs: {jobs}, nodes: {nodes}, {env}}}"
    return (
        f"every: 60s\nbusy_threshold_pct: 10\nmapping: {mapping}\nsources:\n"
        f"  slurm: {slurm}\n  prometheus: {{url: '{prometheus_url}'}}\n"
    )


def seeded_store(folder: Path, register: Path) -> Store:
    db = f"sqlite:///{folder / 'fleet.db'}"
    with contextlib.redirect_stdout(sys.stderr):
        rc = gpufleet_main(
            ["db", "seed", str(register), "--governance", str(GOVERNANCE), "--db", db]
        )
    if rc != 0:
        raise RuntimeError(f"gpufleet db seed {register}: exit {rc}")
    store = Store(db)
    store.upgrade()
    return store


def _next_second() -> None:
    """Observations are stored to the second: start each cycle in a new one."""
    time.sleep(1.02 - time.time() % 1.0)


def timed_sources(settings: LiveSettings, details: JobDetails | None = None) -> Sources:
    """``open_sources(settings)`` with each seam wrapped by its timer, once: a periodic
    observer (``observe --every``, the server's poller) keeps its sources, and with them
    what the text job list looked up in earlier cycles."""
    sources = open_sources(settings, details=details)
    if isinstance(sources.slurm, SlurmCliSource):
        sources.slurm.runner = TimedRunner(sources.slurm.runner)
    if sources.prometheus is not None:
        sources.prometheus.transport = TimedTransport(sources.prometheus.transport)
    return sources


def cycle(
    store: Store, settings: LiveSettings, sources: Sources | None = None, at: datetime | None = None
) -> dict[str, Any]:
    """One observe_cycle through timed seams (``sources`` from :func:`timed_sources`, or
    fresh ones: a cold cycle), then its parts timed apart."""
    sources = sources or timed_sources(settings)
    slurm = sources.slurm if isinstance(sources.slurm, SlurmCliSource) else None
    runner = slurm.runner if slurm is not None else None
    transport = sources.prometheus.transport if sources.prometheus is not None else None
    for seam in (runner, transport):
        if isinstance(seam, TimedRunner | TimedTransport):
            seam.calls.clear()
    before = (slurm.details.lookups, slurm.details.json_reads) if slurm is not None else (0, 0)
    _next_second()
    t = time.perf_counter()
    done = observe_cycle(store, settings, sources, at)
    total = time.perf_counter() - t
    obs = done.observation
    out: dict[str, Any] = {"total_s": total, "read_s": done.read_s, "store_s": done.store_s}
    # the parts apart: the same answers parsed again, the same observation computed again
    state: Any = None
    if isinstance(runner, TimedRunner) and slurm is not None:
        out["slurm_jobs_format"] = slurm.jobs_format
        out["slurm_nodes_format"] = slurm.nodes_format
        out["slurm_lookups"] = slurm.details.lookups - before[0]  # scontrol -d show job
        out["slurm_json_reads"] = slurm.details.json_reads - before[1]  # squeue --json
        out["slurm_commands_s"] = sum(s for _, s, _ in runner.calls)
        out["slurm_by_command"] = by_command(runner.calls)
        replay = SlurmCliSource(  # the lookups' answers known: their time is the command's
            ReplayRunner({c: o for c, _, o in runner.calls}),
            jobs_format=slurm.jobs_format,
            nodes_format=slurm.nodes_format,
            details=copy.deepcopy(slurm.details),
        )
        t = time.perf_counter()
        state = read_slurm(replay)
        out["slurm_parse_s"] = time.perf_counter() - t
    elif sources.slurm is not None:  # slurmrestd: its calls and parse, timed as one
        t = time.perf_counter()
        state = read_slurm(sources.slurm)
        out["slurm_rest_read_and_parse_s"] = time.perf_counter() - t
    assert isinstance(transport, TimedTransport) and sources.prometheus is not None
    out["prometheus_http_s"] = sum(s for _, s, _ in transport.calls)
    prom = PrometheusSource(
        sources.prometheus.base_url, ReplayTransport({k: a for k, _, a in transport.calls})
    )
    t = time.perf_counter()
    gpus = read_prometheus(prom, obs.at, sources.util_window_s)
    out["prometheus_parse_s"] = time.perf_counter() - t
    t = time.perf_counter()
    with store.read() as s:
        register = read_register(s)
    mapping, _ = checked_mapping(settings, register)
    out["register_s"] = time.perf_counter() - t
    t = time.perf_counter()
    observe(
        obs.at,
        mapping,
        registered_at(register.plan, obs.at),
        slurm=state,
        gpus=gpus,
        busy_threshold_pct=settings.model.busy_threshold_pct,
    )
    out["observe_s"] = time.perf_counter() - t
    out["sum_of_parts_s"] = sum(out.get(p, 0.0) for p in PARTS)
    out["observed"] = observed(done.observation, state, gpus, done.ingested.rows)
    return out


def by_command(calls: list[tuple[str, float, str]]) -> dict[str, float]:
    """Seconds per command (``squeue --json`` apart from squeue's text list; the per-job
    ``scontrol -d show job`` lookups added up)."""
    out: dict[str, float] = {}
    for command, seconds, _ in calls:
        words = [w for w in command.split() if w != "env" and "=" not in w]
        name = "squeue --json" if words[:2] == ["squeue", "--json"] else words[0]
        name = "scontrol -d show job" if words[:3] == ["scontrol", "-d", "show"] else name
        out[name] = out.get(name, 0.0) + seconds
    return out


def recorded_sources() -> tuple[Sources, datetime]:
    """The dev cluster's story as recorded in tests/live/samples (squeue, sinfo, sacctmgr
    and the Prometheus answers of one instant, tests/live/story_samples.py), replayed: the
    baseline when the running dev cluster cannot be read (its lock is taken too long)."""
    samples = ROOT / "tests" / "live" / "samples"
    at = datetime.fromisoformat(
        json.loads((samples / "prometheus" / "recorded.json").read_text())["recorded_at"]
    )
    runner = ReplayRunner.from_directory(samples / "story-slurm")
    assoc = command_text(SACCTMGR_ASSOC)  # recorded on the same cluster, same accounts
    runner.outputs[assoc] = ReplayRunner.from_directory(samples / "slurm").outputs[assoc]
    prometheus = PrometheusSource(
        "http://127.0.0.1:19090",
        TimedTransport(ReplayTransport.from_directory(samples / "prometheus")),
        clock=lambda: at,
    )
    slurm = SlurmCliSource(TimedRunner(runner), clock=lambda: at)  # squeue --json recorded
    return Sources(slurm, prometheus), at


def baseline(
    args: argparse.Namespace, work: Path, settings: LiveSettings
) -> tuple[str, list[dict[str, Any]]]:
    """The dev cluster's cycles (under its lock), or, when the lock does not come within
    ``--lock-wait``, the same cycle on its recorded answers (each in a fresh register:
    they all observe one instant, which a register stores once)."""
    try:
        with dev_cluster_lock(args.lock_wait):
            store = seeded_store(work / "dev", DEV_REGISTER)
            sources = timed_sources(settings)
            samples = [cycle(store, settings, sources) for _ in range(args.repeats)]
            store.dispose()
            return "dev-cluster", samples
    except TimeoutError:
        samples = []
        for i in range(args.repeats):
            (work / f"replay{i}").mkdir()
            store = seeded_store(work / f"replay{i}", DEV_REGISTER)
            sources, at = recorded_sources()
            samples.append(cycle(store, settings, sources, at))
            store.dispose()
        return "recorded", samples


@contextlib.contextmanager
def dev_cluster_lock(timeout_s: float) -> Iterator[None]:
    """The dev cluster's test lock (tests/live/devcluster.py), held while the baseline
    reads it, so that no test's scene changes under the read. Waits in the lock's queue
    (a blocking flock) for at most ``timeout_s``."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"{DEV_LOCK}: held by other runs for {timeout_s:g} s")

    with DEV_LOCK.open("a") as f:
        previous = signal.signal(signal.SIGALRM, expired)
        signal.alarm(int(timeout_s))
        try:
            fcntl.flock(f, fcntl.LOCK_EX)
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def medians(samples: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, first in samples[0].items():
        if isinstance(first, float):
            out[key] = round(statistics.median(s[key] for s in samples), 4)
        elif key == "slurm_by_command":  # a command a sample did not run took it 0 s
            names = sorted({c for s in samples for c in s[key]})
            out[key] = {
                c: round(statistics.median(s[key].get(c, 0.0) for s in samples), 4) for c in names
            }
    return out


def rounded(sample: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in sample.items()}


def machine() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "note": "2 CPU cores shared with other work (other sessions' tests and builds)",
        "git_commit": commit,
    }


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": machine(), "repeats": args.repeats}
    out["generated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    out["load_average_1m_before"] = os.getloadavg()[0]
    out["cluster"] = cluster.cluster_facts()
    dev_env = dict(line.split("=", 1) for line in _dev_env_lines())  # the baseline's
    if not args.reuse:
        out["bringup_s"] = round(cluster.up(), 1)
        out["scene"] = cluster.set_scene()
    (work / "mapping.yaml").write_text(cluster.mapping_yaml())
    (work / "register.yaml").write_text(cluster.register_yaml())
    configs = (
        ("live.yaml", "", "text", "text"),
        ("live-nodes-json.yaml", "", "text", "json"),
        ("live-json.yaml", "", "json", "json"),
        ("live-rest.yaml", cluster.REST_SOCKET, "text", "text"),
    )
    for name, rest, jobs, nodes in configs:
        text = live_yaml(
            work / "mapping.yaml", cluster.SLURM_CONF, cluster.PROMETHEUS_URL, rest, jobs, nodes
        )
        (work / name).write_text(text)
    (work / "dev-live.yaml").write_text(
        live_yaml(DEV_MAPPING, dev_env["SLURM_CONF"], dev_env["GPUFLEET_PROMETHEUS_URL"])
    )
    (work / "scale").mkdir()
    (work / "dev").mkdir()
    scale_store = seeded_store(work / "scale", work / "register.yaml")
    arms: dict[str, list[dict[str, Any]]] = {a: [] for a in ARMS}
    settings = {
        "commands": load_settings(work / "live.yaml"),
        "commands_nodes_json": load_settings(work / "live-nodes-json.yaml"),
        "commands_json": load_settings(work / "live-json.yaml"),
        "rest": load_settings(work / "live-rest.yaml"),
        "baseline": load_settings(work / "dev-live.yaml"),
    }
    # the text list's first cycle (nothing looked up yet), each time with fresh sources
    # and an empty cache; then the steady state: one set of sources kept, as
    # `observe --every` and the server's poller keep theirs (its first cycle is cold too
    # and is left out of the steady arm)
    warm = timed_sources(settings["commands"])
    cycle(scale_store, settings["commands"], warm)
    warm_nodes_json = timed_sources(settings["commands_nodes_json"])
    cycle(scale_store, settings["commands_nodes_json"], warm_nodes_json)
    for _ in range(args.repeats):
        arms["commands"].append(cycle(scale_store, settings["commands"], warm))
        nodes_json = cycle(scale_store, settings["commands_nodes_json"], warm_nodes_json)
        arms["commands_nodes_json"].append(nodes_json)
        arms["commands_cold"].append(cycle(scale_store, settings["commands"]))
        arms["commands_json"].append(cycle(scale_store, settings["commands_json"]))
        arms["rest"].append(cycle(scale_store, settings["rest"]))
    scale_store.dispose()
    # the baseline while the 10k cluster still runs (its daemons load the machine alike)
    t = time.perf_counter()
    kind, arms["baseline"] = baseline(args, work, settings["baseline"])
    out["baseline_wall_s"] = round(time.perf_counter() - t, 1)
    for arm, samples in arms.items():
        out[arm] = {
            "median": medians(samples),
            "observed": samples[-1]["observed"],
            "samples": [rounded({k: v for k, v in s.items() if k != "observed"}) for s in samples],
        }
    out["baseline"]["what"] = BASELINES[kind]
    total = out["commands"]["median"]["total_s"]
    out["ratio_total_10k_over_baseline"] = round(total / out["baseline"]["median"]["total_s"], 2)
    out["target"] = {"target_s": TARGET_S, "measured_s": total, "met": total < TARGET_S}
    out["load_average_1m_after"] = os.getloadavg()[0]
    return out


def _dev_env_lines() -> list[str]:
    """``KEY=VALUE`` of the running dev cluster's env file (written by its ``up``)."""
    env = DEV_STATE / "env"
    if not env.exists():
        raise RuntimeError(f"{env}: the dev cluster is not up (scripts/devcluster/up)")
    return [line.removeprefix("export ") for line in env.read_text().splitlines() if "=" in line]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--keep-up", action="store_true", help="leave the 10k cluster running")
    ap.add_argument("--reuse", action="store_true", help="observe a 10k cluster left running")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--lock-wait", type=float, default=120, help="seconds, for the baseline")
    args = ap.parse_args()
    t = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as d:
            out = run(args, Path(d))
    finally:
        if not args.keep_up:
            down_s = cluster.down()
    if not args.keep_up:
        out["down_s"] = round(down_s, 1)
    out["bench_wall_s"] = round(time.perf_counter() - t, 1)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    summary = {k: out[k]["median"]["total_s"] for k in ARMS}
    print(json.dumps({"target": out["target"], "medians": summary}, indent=2))


if __name__ == "__main__":
    main()
