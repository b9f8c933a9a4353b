"""Issue 13's story on the real dev cluster, step by step, each step's real output shown
and checked; run by ``scripts/story/live-fleet-ii`` under the dev cluster's lock.

The register is a throwaway SQLite file (the enact story's: tests/live/enact/register.yaml
with the article's governance). The lease goes through the register's own lifecycle,
the functions behind the API's ``POST /transfers``, ``assess``, ``approve`` and
``activate`` (there is no command line for transfers). The enactment is the service's
worker (:class:`gpufleet.live.enact.worker.EnactWorker`), ticked here at the lease's
instants: the register's windows are whole days, so its clock is set to the start and
the end; Slurm, its accounting and every command are real. Metering and the statement
are the ``gpufleet meter`` and ``gpufleet statement`` commands.

Exit 0: every check held and the cluster's accounts and reservations are back as they
were; 1: a check failed (said, and the cluster restored all the same).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from story_cluster import (
    ENV,
    JOB_NAME,
    LOCK,
    MAPPING,
    ROOT,
    StepFailed,
    caps,
    check,
    cluster_lock,
    killed_worker,
    restore,
    say,
    sbatch,
    slurm,
    snapshot,
    wait_for,
)

from gpufleet.governance.register.people import load_governance
from gpufleet.governance.register.plan import seed_from_scenario
from gpufleet.governance.runs import queue
from gpufleet.governance.store.audit import verify
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AuditRecord, PersonRow, TransferRow
from gpufleet.governance.transfers import lifecycle
from gpufleet.live.enact.slurm_apply import SubprocessExecutor
from gpufleet.live.enact.worker import EnactOptions, EnactWorker
from gpufleet.live.mapping import load_mapping
from gpufleet.live.runner import SubprocessRunner

CONFIG = ROOT / "tests/live/register/live.yaml"
REGISTER = ROOT / "tests/live/enact/register.yaml"
GOVERNANCE = ROOT / "src/gpufleet/data/article-governance.yaml"


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def step(n: int, title: str) -> None:
    say()
    say(f"== {n}. {title}")


def shown(*argv: str) -> str:
    """Run a Slurm command, show it and its answer."""
    out = slurm(*argv)
    say("$ " + " ".join(argv))
    for line in out.splitlines():
        say("  " + line)
    return out


def gpufleet(*argv: str) -> str:
    say("$ gpufleet " + " ".join(argv))
    done = subprocess.run(
        [sys.executable, "-m", "gpufleet.cli", *argv], capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise StepFailed(f"gpufleet {' '.join(argv)}: exit {done.returncode}: {done.stderr}")
    return done.stdout


def worker(store: Store, lock: Path, clock: Clock, enforce: bool = False) -> EnactWorker:
    return EnactWorker(
        store, EnactOptions("gfdev", enforce=enforce), load_mapping(MAPPING),
        SubprocessRunner(ENV), SubprocessExecutor(ENV), lock, clock=clock, actor="story:worker",
    )  # fmt: skip


def tick(w: EnactWorker) -> float:
    wait = w.tick()
    last = w.state.last
    assert last is not None
    say(f"  worker tick at {w.clock()}: {last.outcome}, {last.changes} change(s)"
        f"{', ' + last.detail if last.detail else ''}; next wake in {wait:g} s")  # fmt: skip
    return wait


def squeue() -> dict[int, tuple[str, str, str]]:
    out = shown("squeue", "-h", "-n", JOB_NAME, "-o", "%i %u %a %T %r %N")
    jobs = {}
    for line in out.splitlines():
        job, _user, _account, state, reason, *nodes = line.split()
        jobs[int(job)] = (state, reason, " ".join(nodes))
    return jobs


def lease(store: Store) -> int:
    with store.read() as s:
        people = {p.name: p.id for p in s.scalars(select(PersonRow))}
    today = datetime.now(UTC).date()
    body = {
        "name": "story-lease", "pool": "memphis-h100", "gpus": 8, "to": "xai",
        "from_program": "fsd-training", "to_program": "grok",
        "start": str(today - timedelta(days=1)), "end": str(today + timedelta(days=30)),
        "price_usd": 1_500_000.0,
    }  # fmt: skip
    with store.write("story:tesla-cfo") as tx:
        tid = lifecycle.request(tx, people["tesla-cfo"], body).id
    say(f"  tesla-cfo requests transfer #{tid}: 8 H100 of memphis-h100 (gf-h100-1) to xai's "
        f"grok, {body['start']} .. {body['end']}, $1,500,000")  # fmt: skip
    with store.write("story:tesla-cfo") as tx:
        run_id = lifecycle.queue_assessment(tx, tid).id
    queue.execute(store, run_id)
    with store.read() as s:
        t = s.get(TransferRow, tid)
        assert t is not None
        say(f"  assessed: run #{run_id}, transfer state {t.state}")
    for who in ("tesla-independent-1", "tesla-independent-2"):
        with store.write(f"story:{who}") as tx:
            t = lifecycle.approve(tx, tid, people[who])
        say(f"  {who} approves: state {t.state}")
    with store.write("story:tesla-cfo") as tx:
        t = lifecycle.activate(tx, tid)
    check(t.state == "active", f"transfer #{tid} approved by both directors and active")
    return tid


def enact_records(store: Store, action: str) -> list[dict[str, object]]:
    with store.read() as s:
        q = select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq)
        return [json.loads(r.after) for r in s.scalars(q)]


TESLA_NODES = {"gf-h100-1": "memphis-h100", "gf-a100-1": "buffalo-a100"}  # the mapping's


def _hosts(text: str) -> list[str]:
    """Slurm's host list by hand: ``gf-h100-[1-2]`` -> gf-h100-1, gf-h100-2."""
    out = []
    for prefix, ranges, plain in re.findall(r"([^,\[]+)\[([^\]]+)\]|([^,\[\]]+)", text):
        if plain:
            out.append(plain)
            continue
        for part in ranges.split(","):
            lo, _, hi = part.partition("-")
            out += [f"{prefix}{i}" for i in range(int(lo), int(hi or lo) + 1)]
    return out


def sacct_by_hand(since: datetime, until: datetime) -> tuple[dict[str, float], int]:
    """From sacct itself, independently of gpufleet's metering: every xai job on tesla's
    nodes (gf-h100-1, gf-a100-1) overlapping [since, until), any run's; GPU-hours per
    pool = sum of gres/gpu=N x (min(End, until) - max(Start, since)) / 3600, a job on
    several nodes split evenly. A job still running has no End to bill exactly: refused."""
    fmt = "%Y-%m-%dT%H:%M:%S"  # sacct's -S/-E: the machine's local time (UTC here)
    out = slurm("env", "SLURM_TIME_FORMAT=%s", "sacct", "-a", "-X", "-P", "-n", "-A", "xai",
                "-S", since.strftime(fmt), "-E", until.strftime(fmt),
                "--format=JobID,Start,End,AllocTRES,NodeList,State")  # fmt: skip
    lo, hi = int(since.timestamp()), int(until.timestamp())
    hours: dict[str, float] = {}
    jobs = 0
    for line in out.splitlines():
        job, start, end, tres, nodes, state = line.split("|")
        gpus = int(dict(t.split("=") for t in tres.split(",") if "=" in t).get("gres/gpu", 0))
        hosts = _hosts(nodes) if gpus and start.isdigit() else []
        mine = [h for h in hosts if h in TESLA_NODES]
        if not mine:
            continue
        if not end.isdigit():
            raise StepFailed(f"xai's job {job} on {nodes} is {state} with no End: not exact")
        seconds = max(0, min(int(end), hi) - max(int(start), lo))
        for host in mine:
            pool = TESLA_NODES[host]
            hours[pool] = hours.get(pool, 0.0) + gpus / len(hosts) * seconds / 3600
        jobs += seconds > 0
    return hours, jobs


def bill(store: Store, work: Path, name: str, window: list[str]) -> dict[str, float]:
    """``gpufleet meter`` then ``gpufleet statement`` for the window: GPU-hours per pool."""
    metered = json.loads(gpufleet("meter", "--config", str(CONFIG), *window, "--db", store.url,
                                  "--json"))  # fmt: skip
    unmapped = metered["unmapped"]
    if unmapped:  # other runs' throwaway accounts, this month: not xai's, not tesla's nodes
        say(f"  unmapped ({name}): {', '.join(unmapped)}")
    check(not [u for u in unmapped if u == "account xai" or u.startswith("node ")],
          "xai's account and every node mapped to a program and a pool")  # fmt: skip
    out = work / f"statement-{name}.json"
    gpufleet("statement", *window, "--from", "tesla", "--to", "xai", "--format", "json",
             "-o", str(out), "--db", store.url)  # fmt: skip
    lines = json.loads(out.read_text())["lines"]
    for line in lines:
        say(f"  statement ({name}): {line['pool']} {line['jobs']} job(s) {line['gpu_hours']} "
            f"GPU-h, agreed ${line['agreed_usd']}, cost-plus ${line['cost_plus_usd']}")  # fmt: skip
    return {line["pool"]: float(line["gpu_hours"]) for line in lines}


def completed(job: int) -> Callable[[], bool | None]:
    state = ("sacct", "-X", "-n", "-P", "-j", str(job), "--format=State")
    return lambda: slurm(*state) == "COMPLETED" or None


def story(store: Store, work: Path) -> None:
    lock = work / "apply.lock"
    clock = Clock(datetime.now(UTC).replace(tzinfo=None, microsecond=0))
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)

    step(1, "the register enacted as it stands (no lease): tesla 8 H100 + 4 A100, xai 4")
    w = worker(store, lock, clock)
    tick(w)
    check(caps() == {"tesla": "gres/gpu=12", "xai": "gres/gpu=4"}, "caps tesla 12, xai 4")

    step(2, "xai's jobs pend on quota")
    first, second = sbatch(40), sbatch(15)
    say(f"  xai1 submits jobs {first} and {second}: 4 H100 each on gf-h100-1 (tesla's node)")
    wait_for(
        "xai's second job pending on AssocGrpGRES",
        lambda: (slurm("squeue", "-h", "-j", str(second), "-o", "%r") == "AssocGrpGRES") or None,
        60,
    )
    jobs = squeue()
    check(jobs[second][:2] == ("PENDING", "AssocGrpGRES"), f"job {second} pends on AssocGrpGRES")

    step(3, "a lease of tesla's H100 is requested, assessed, approved by two directors")
    tid = lease(store)

    step(4, "the worker enacts it at its start")
    with store.read() as s:
        t = s.get(TransferRow, tid)
        assert t is not None and t.end is not None
        start, end = datetime.fromisoformat(t.start), datetime.fromisoformat(t.end)
    clock.at = start - timedelta(seconds=1)
    check(tick(w) == 1.0, "a second before the start: nothing to do, wake at the start")
    clock.at = start
    tick(w)
    change = enact_records(store, "enact-change")[-1]
    say(f"  audit: {change['target']} {change['attribute']} -> {change['value']}, transfers "
        f"{change['transfers']}")  # fmt: skip
    check(caps() == {"tesla": "gres/gpu=4", "xai": "gres/gpu=12"}, "caps tesla 12-8=4, xai 4+8=12")

    step(5, "xai's pending job starts on tesla's node")
    wait_for(f"job {second} running", lambda: slurm(
        "squeue", "-h", "-j", str(second), "-o", "%T") == "RUNNING" or None, 60)  # fmt: skip
    jobs = squeue()
    check(jobs[second][0] == "RUNNING" and jobs[second][2] == "gf-h100-1",
          f"job {second} runs on gf-h100-1")  # fmt: skip
    check(jobs[first][0] == "RUNNING", f"job {first} still runs: the lease, not its end, did it")

    step(6, "a hand-made sacctmgr change is drift, with its author")
    shown("sacctmgr", "-i", "modify", "account", "xai", "set", "GrpTRES=gres/gpu=7")
    tick(w)
    (d,) = w.state.drift
    say(f"  drift: {d.text()}")
    check((d.target, d.found, d.desired, d.actor) == ("xai", 7, 12, "root"),
          "xai's cap 7 against 12, changed by root, told not reverted")  # fmt: skip
    check(caps()["xai"] == "gres/gpu=7", "not reverted without enforce")
    check(len(enact_records(store, "enact-drift")) == 1, "audited once (enact-drift)")
    shown_drift = json.loads(gpufleet("status", "--db", store.url, "--json"))["enact_drift"]
    for x in shown_drift:
        say(f"  enact_drift: {x['message']} (audit #{x['audit_seq']})")
    check([(x["target"], x["found"], x["actor"]) for x in shown_drift] == [("xai", 7, "root")],
          "gpufleet status shows it")  # fmt: skip
    tick(worker(store, lock, clock, enforce=True))
    check(caps()["xai"] == "gres/gpu=12", "an enforcing worker reverts it")
    shown_drift = json.loads(gpufleet("status", "--db", store.url, "--json"))["enact_drift"]
    check(shown_drift == [], "gpufleet status no longer shows it")

    step(7, "the lease ends: the worker is killed -9 mid-revert; the next one finishes it")
    done = subprocess.run(
        [sys.executable, __file__, "--killed-worker", store.url, str(lock), end.isoformat()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    say(f"  the killed worker's exit: {done.returncode}")
    check(done.returncode == -9, "killed by SIGKILL after its first command")
    # the revert lowers first: xai 12 -> 4 ran, tesla 4 -> 12 never did
    check(
        caps() == {"tesla": "gres/gpu=4", "xai": "gres/gpu=4"},
        "left partly: xai lowered to 4, tesla not yet raised (both at most the grant)",
    )
    again = worker(store, lock, Clock(end))
    tick(again)
    say(f"  recovered: {again.state.recovered}")
    check("was cut short: partly: changes 1 applied" in (again.state.recovered or ""),
          "the next worker says partly")  # fmt: skip
    check(
        caps() == {"tesla": "gres/gpu=12", "xai": "gres/gpu=4"},
        "finished forward: the new state (the lease reverted: tesla 12, xai 4)",
    )
    outcomes = [e["outcome"] for e in enact_records(store, "enact-end")]
    check(outcomes[-2:] == ["finished-by", "applied"], f"journal: {outcomes}")

    step(8, "the statement bills exactly the GPU-hours sacct records")
    for job in (first, second):
        wait_for(f"job {job} completed in sacct", completed(job), 90)
    time.sleep(1)
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    # the story's own window: its two jobs only
    billed = bill(store, work, "window", ["--since", since.isoformat(), "--until",
                                          until.isoformat()])  # fmt: skip
    hours, jobs_n = sacct_by_hand(since, until)
    say(f"  by hand from sacct, the window: {jobs_n} job(s), "
        f"{sum(hours.values()):.4f} GPU-h")  # fmt: skip
    check(jobs_n == 2 and billed == {p: round(h, 4) for p, h in hours.items()},
          "the window: billed = sacct's GPU-hours")  # fmt: skip
    # the calendar month: every run's xai jobs on tesla's nodes this month, not only ours
    now = datetime.now(UTC)
    first_day = datetime(now.year, now.month, 1, tzinfo=UTC)
    next_first = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    billed = bill(store, work, "month", ["--period", f"{now:%Y-%m}"])
    hours, jobs_n = sacct_by_hand(first_day, next_first)
    for pool, h in sorted(hours.items()):
        say(f"  by hand from sacct, {now:%Y-%m}: {pool} {h:.4f} GPU-h")
    say(f"  by hand from sacct, {now:%Y-%m}: {jobs_n} job(s), {sum(hours.values()):.4f} GPU-h")
    check(jobs_n >= 2 and billed == {p: round(h, 4) for p, h in hours.items() if h},
          f"{now:%Y-%m}: billed = sacct's GPU-hours, pool by pool")  # fmt: skip

    with store.read() as s:
        check(verify(s).ok, "the audit chain verifies")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--killed-worker"]:
        killed_worker(*argv[1:4])
        return 0
    began = time.monotonic()
    try:
        with cluster_lock() as held:
            say(f"the dev cluster's lock {LOCK}: {held}")
            ok = run_story()
    except StepFailed as exc:
        say(f"FAILED: {exc}")
        ok = False
    say(f"{'story done' if ok else 'story FAILED'} in {time.monotonic() - began:.0f} s")
    return 0 if ok else 1


def run_story() -> bool:
    before = snapshot()
    ok = False
    with tempfile.TemporaryDirectory(prefix="gpufleet-story-") as tmp:
        work = Path(tmp)
        store = Store(f"sqlite:///{work / 'register.db'}")
        store.upgrade()
        with store.write("story:setup") as tx:
            seed_from_scenario(tx, REGISTER)
            load_governance(tx, GOVERNANCE)
        say(f"a throwaway register: {work / 'register.db'}")
        try:
            story(store, work)
            ok = True
        except StepFailed as exc:
            say(f"FAILED: {exc}")
        finally:
            restored = restore(before)
            say()
            say(f"the cluster restored as it was: {'yes' if restored else 'NO'}")
            ok = ok and restored
    return ok


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
