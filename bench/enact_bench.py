"""The enactment's plan at issue 13's size (issue 13, "Benchmarks": the plan under 2 s, the
apply limited by the scheduler's commands): 50 entities x 20 programs x 4 GPU types and
100 active leases, against a generated cluster state, with a baseline in the same run.

The register is generated (seeded): 50 entities of 20 programs each (1,000 Slurm
accounts, weights 0.5-2), each program a quota row per GPU type (h100, h200, a100, b200:
the catalog's four) and a second row from mid-window on a third of them (5,390 rows),
one pool per entity and type (200 pools of 8-GPU nodes, each its node rule in the mapping), and 100
leases in force (1-2 nodes of a pool from its owner's program to another entity's). The
cluster state is what the register said before the leases, with 5% of the caps and 2% of
the shares changed by hand, and 10 accounts missing.

Arms (medians of ``--repeats``, seconds):

- ``plan_s``: :func:`gpufleet.live.enact.desired.desired_state` at an instant when the
  leases are in force and :func:`gpufleet.live.enact.diff.diff` against the cluster
  state, both typed (``gres/gpu:TYPE``) and total caps (``total`` reported; the target);
- ``plan_typed_s``: the same with ``--gpu-limits typed`` (four caps an account);
- ``diff_only_s``: the diff alone of the same desired state (baseline);
- ``plan_5_entities_s``: the plan for 5 entities x 20 programs x 4 types and 10 leases
  (the same generator; baseline).

``--slurm``: also the per-command cost of ``sacctmgr -i modify account ... set
GrpTRES=gres/gpu=N`` on the dev cluster (scripts/devcluster), under its lock
(/tmp/gpufleet-devcluster/live-tests.lock), xai's cap set to 5..8 and back to what it was:
an apply of N changes costs about N such commands (and their audit records).

    PYTHONPATH=src .venv/bin/python bench/enact_bench.py [--repeats 5] [--slurm]

Writes bench/enact_results.json.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src")]

from gpufleet.live.enact.current import AccountNow, ClusterNow  # noqa: E402
from gpufleet.live.enact.desired import desired_state  # noqa: E402
from gpufleet.live.enact.diff import diff  # noqa: E402
from gpufleet.live.enact.model import (  # noqa: E402
    FAIRSHARE,
    PARENT,
    ApprovalNote,
    ClusterSettings,
    DesiredState,
    GpuLimitStyle,
)
from gpufleet.live.enact.register import (  # noqa: E402
    PoolRec,
    ProgramRec,
    QuotaRec,
    RegisterRows,
    TransferRec,
)
from gpufleet.live.mapping import ClusterMapping, parse_mapping  # noqa: E402

TARGET_S = 2.0
TYPES = {"h100": "H100-SXM", "h200": "H200", "a100": "A100-80GB", "b200": "B200"}
START, END = datetime(2026, 1, 1), datetime(2027, 1, 1)
AT = datetime(2026, 7, 1)  # the instant planned: every lease in force
STATE = Path(os.environ.get("GPUFLEET_DEVCLUSTER_STATE", "/tmp/gpufleet-devcluster"))


def generate(
    entities: int, programs: int, leases: int, seed: int = 1
) -> tuple[RegisterRows, ClusterMapping]:
    rng = random.Random(seed)
    progs, quotas, pools, accounts, nodes = [], [], [], [], []
    for e in range(entities):
        entity = f"e{e:02d}"
        for p in range(programs):
            name = f"{entity}-p{p:02d}"
            progs.append(ProgramRec(name, entity, round(rng.uniform(0.5, 2.0), 2)))
            accounts.append(f"  {name}: {{entity: {entity}, program: {name}}}")
            for gpu_type in TYPES.values():
                quotas.append(QuotaRec(name, gpu_type, None, rng.randrange(0, 64)))
                if rng.random() < 1 / 3:
                    quotas.append(
                        QuotaRec(name, gpu_type, datetime(2026, 5, 1), rng.randrange(0, 64))
                    )
        for gres, gpu_type in TYPES.items():
            pool = f"{entity}-{gres}"
            pools.append(PoolRec(pool, entity, gpu_type, 8))
            nodes.append(
                f"  - {{nodes: 'n-{pool}-*', site: s{e:02d}, pool: {pool}, entity: {entity}}}"
            )
    transfers = []
    for i in range(leases):
        giver_e, taker_e = rng.sample(range(entities), 2)
        gres = rng.choice(list(TYPES))
        note = (ApprovalNote("dana", "approve", "2026-06-01T10:00:00+00:00"),)
        transfers.append(TransferRec(
            i + 1, f"lease-{i + 1}", "active", f"e{giver_e:02d}-{gres}", 8 * rng.randint(1, 2),
            f"e{giver_e:02d}-p{rng.randrange(programs):02d}",
            f"e{taker_e:02d}-p{rng.randrange(programs):02d}",
            AT - timedelta(days=rng.randint(1, 30)), AT + timedelta(days=rng.randint(1, 30)), note,
        ))  # fmt: skip
    text = "slurm:\n accounts:\n" + "\n".join(accounts) + "\n nodes:\n" + "\n".join(nodes)
    text += "\ngpu_types:\n" + "".join(f"  {k}: {v}\n" for k, v in TYPES.items())
    rows = RegisterRows(tuple(progs), tuple(quotas), tuple(pools), tuple(transfers))
    return rows, parse_mapping(text, "<bench>")


def cluster_state(desired: DesiredState, seed: int = 2) -> ClusterNow:
    """What the register said before the leases, with hand-made changes and gaps."""
    rng = random.Random(seed)
    held: dict[str, dict[str, Any]] = {}
    for s in desired.settings:
        held.setdefault(s.account, {})[s.attribute] = s.value
    accounts = {"root": AccountNow("root", "", None, {})}
    for name, attrs in held.items():
        if rng.random() < 0.01:
            continue  # missing: an add
        caps = {a: v for a, v in attrs.items() if a.startswith("gres/gpu") and v is not None}
        caps = {a: (v + rng.randint(1, 8) if rng.random() < 0.05 else v) for a, v in caps.items()}
        shares = attrs.get(FAIRSHARE)
        if shares is not None and rng.random() < 0.02:
            shares += 1
        accounts[name] = AccountNow(name, str(attrs.get(PARENT, "root")), shares, caps)
    return ClusterNow(desired.cluster, accounts, {})


def _plan(
    rows: RegisterRows, mapping: ClusterMapping, now: ClusterNow, style: GpuLimitStyle
) -> int:
    desired = desired_state(rows, mapping, ClusterSettings("bench", style), AT)
    return len(diff(desired, now))


def _timed(fn: Any, *args: Any) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def slurm_modify_cost(repeats: int) -> dict[str, Any]:
    """``sacctmgr -i modify`` of xai's GPU cap on the dev cluster, timed per command, under
    the dev cluster's lock; the cap put back as it was."""
    env = {**os.environ, "SLURM_CONF": str(STATE / "etc/slurm.conf")}

    def run(*argv: str) -> str:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=True)
        return done.stdout.strip()

    show = (
        "sacctmgr",
        "-P",
        "-n",
        "show",
        "assoc",
        "where",
        "account=xai",
        "user=",
        "format=GrpTRES",
    )
    times = []
    with open(STATE / "live-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = run(*show)
        cap = dict(t.split("=") for t in before.split(",") if t).get("gres/gpu", "-1")
        try:
            for i in range(repeats):
                value = 5 + i % 4
                t = time.perf_counter()
                run("sacctmgr", "-i", "modify", "account", "where", "name=xai", "cluster=gfdev",
                    "set", f"GrpTRES=gres/gpu={value}")  # fmt: skip
                times.append(time.perf_counter() - t)
        finally:
            run("sacctmgr", "-i", "modify", "account", "where", "name=xai", "cluster=gfdev",
                "set", f"GrpTRES=gres/gpu={cap}")  # fmt: skip
        restored = run(*show) == before
    return {
        "command": "sacctmgr -i modify account where name=xai cluster=gfdev set GrpTRES=gres/gpu=N",
        "runs_s": [round(x, 3) for x in times],
        "median_s": round(statistics.median(times), 3),
        "restored": restored,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--slurm", action="store_true", help="also time sacctmgr on the dev cluster")
    ap.add_argument("--out", default=str(ROOT / "bench/enact_results.json"))
    args = ap.parse_args()
    rows, mapping = generate(50, 20, 100)
    small_rows, small_mapping = generate(5, 20, 10)
    total = desired_state(rows, mapping, ClusterSettings("bench"), AT)
    now = cluster_state(total)
    small_now = cluster_state(
        desired_state(small_rows, small_mapping, ClusterSettings("bench"), AT)
    )
    typed_now = cluster_state(
        desired_state(rows, mapping, ClusterSettings("bench", GpuLimitStyle.TYPED), AT)
    )
    arms: dict[str, list[float]] = {"plan_s": [], "plan_typed_s": [], "diff_only_s": [],
                                    "plan_5_entities_s": []}  # fmt: skip
    for _ in range(args.repeats):
        arms["plan_s"].append(_timed(_plan, rows, mapping, now, GpuLimitStyle.TOTAL))
        arms["plan_typed_s"].append(_timed(_plan, rows, mapping, typed_now, GpuLimitStyle.TYPED))
        arms["diff_only_s"].append(_timed(diff, total, now))
        arms["plan_5_entities_s"].append(
            _timed(_plan, small_rows, small_mapping, small_now, GpuLimitStyle.TOTAL)
        )
    median = {k: round(statistics.median(v), 4) for k, v in arms.items()}
    out: dict[str, Any] = {
        "what": "gpufleet apply slurm's plan at 50 x 20 x 4 and 100 leases (bench/enact_bench.py)",
        "size": {"accounts": len(rows.programs), "quota_rows": len(rows.quotas),
                 "pools": len(rows.pools), "leases": len(rows.transfers),
                 "settings": len(total.settings), "changes": len(diff(total, now))},
        "repeats": args.repeats, "runs": {k: [round(x, 4) for x in v] for k, v in arms.items()},
        "median": median,
        "ratio_plan_over_diff_only": round(median["plan_s"] / median["diff_only_s"], 1),
        "ratio_plan_over_5_entities": round(median["plan_s"] / median["plan_5_entities_s"], 1),
        "target": {"plan_s_under": TARGET_S, "met": median["plan_s"] < TARGET_S},
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "load_1m": round(os.getloadavg()[0], 2)},
        "git": subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }  # fmt: skip
    if args.slurm:
        out["slurm_modify"] = slurm_modify_cost(5)
        per = out["slurm_modify"]["median_s"]
        n = out["size"]["changes"]
        out["apply_estimate_s"] = {"changes": n, "commands_s": round(n * per, 1)}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    sys.stdout.write(
        json.dumps(
            {"median": median, "size": out["size"]}
            | ({"slurm_modify_median_s": out["slurm_modify"]["median_s"]} if args.slurm else {})
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
