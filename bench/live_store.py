"""Store growth and speed of live observations at 100,000 GPUs (issue 12): one-minute
samples of a generated fleet (12,500 nodes x 8 GPUs: 10 entities over 10 sites and two
GPU types, 30 programs, 1 % of nodes down), written through ``gpufleet.live.store.ingest``
to SQLite and PostgreSQL; then the retention policy's steady state is computed from the
measured bytes per sample. Prints a table and writes bench/live_store_results.json.

    python bench/live_store.py [--samples 300] [--read-samples 1440] [--pg URL]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from gpufleet.domain import EntityId, GpuTypeName, PoolId, ProgramId, Reason, SiteId
from gpufleet.governance.store.db import Store
from gpufleet.inputs.scenario.load import load_scenario
from gpufleet.live.findings import waste
from gpufleet.live.observation import (
    Capacity,
    Demand,
    DownNode,
    Observation,
    QuotaInForce,
    Usage,
)
from gpufleet.live.retention import DEFAULT_RETENTION
from gpufleet.live.store import ingest, sample_rows, samples

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
TYPES = (GpuTypeName("H100-SXM"), GpuTypeName("B200"))
NODES, GPUS_PER_NODE = 12_500, 8


def fleet(at: datetime, minute: int) -> Observation:
    """100,000 GPUs: entity e holds, at sites e and e+1 (mod 10), one pool of each type."""
    cap, use, dem, down, quotas = [], [], [], [], []
    per_row = NODES * GPUS_PER_NODE // 40  # 2,500 GPUs per (entity, site, type)
    for e in range(10):
        for k, site in enumerate((e, (e + 1) % 10)):
            for t in TYPES:
                d = 8 * (1 + (e + minute) % 3)  # a few nodes down, varying
                alloc = per_row - d - 200
                cap.append(
                    Capacity(
                        EntityId(f"e{e}"),
                        SiteId(f"s{site}"),
                        t,
                        per_row,
                        per_row,
                        per_row - d,
                        d,
                        0,
                        alloc,
                        200,
                        alloc - 150,
                        150,
                        0,
                        0,
                    )
                )
                for p in range(3):
                    prog = ProgramId(f"e{e}-p{p}")
                    use.append(
                        Usage(
                            EntityId(f"e{e}"),
                            prog,
                            EntityId(f"e{e}"),
                            SiteId(f"s{site}"),
                            t,
                            alloc // 3,
                            alloc // 3 - 50,
                            50,
                            0,
                        )
                    )
                for n in range(d // 8):
                    down.append(
                        DownNode(
                            "slurm",
                            f"n-{e}-{k}-{t}-{n}",
                            EntityId(f"e{e}"),
                            SiteId(f"s{site}"),
                            PoolId(f"pool-{e}-{site}-{t}"),
                            t,
                            8,
                            "down",
                            "no power",
                        )
                    )
        for p in range(3):
            prog = ProgramId(f"e{e}-p{p}")
            for t in TYPES:
                for r in (Reason.QUOTA, Reason.CAPACITY):
                    dem.append(Demand(EntityId(f"e{e}"), prog, t, r, ("AssocGrpGRES",), 64, 8))
            quotas.append(
                QuotaInForce("slurm", f"account e{e}-p{p}", EntityId(f"e{e}"), prog, None, 2000)
            )
    return Observation(
        at, 10.0, tuple(cap), tuple(use), tuple(dem), tuple(down), (), (), tuple(quotas)
    )


def _bytes(store: Store) -> int:
    with store.engine.connect() as c:
        if store.backend == "sqlite":
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            pages = c.exec_driver_sql("PRAGMA page_count").scalar() or 0
            size = c.exec_driver_sql("PRAGMA page_size").scalar() or 0
            free = c.exec_driver_sql("PRAGMA freelist_count").scalar() or 0
            return int((pages - free) * size)
        q = (
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
            "WHERE relname LIKE 'live_%' AND relkind = 'r'"
        )
        return int(c.execute(text(q)).scalar() or 0)


def measure(url: str, n: int) -> dict[str, Any]:
    store = Store(url)
    store.upgrade()
    before = _bytes(store)
    times = []
    for i in range(n):
        obs = fleet(T0 + timedelta(minutes=i), i)
        t = time.perf_counter()
        with store.write("bench") as tx:
            ingest(tx, obs, 60.0)
        times.append(time.perf_counter() - t)
    after = _bytes(store)
    with store.read() as s:
        t = time.perf_counter()
        got = samples(s)
        read_s = time.perf_counter() - t
    rows = sample_rows(got[:1])
    store.dispose()
    return {
        "backend": store.backend,
        "samples": n,
        "rows_per_sample": rows,
        "bytes_per_sample": (after - before) / n,
        "ingest_median_s": statistics.median(times),
        "read_all_s": read_s,
    }


def compaction(url: str, n: int) -> dict[str, Any]:
    """A day of raw samples read back and judged; then a whole hour merged into one."""
    store = Store(url)
    store.upgrade()
    for i in range(n):
        with store.write("bench") as tx:
            ingest(tx, fleet(T0 + timedelta(minutes=i), i), 60.0)
    with store.read() as s:
        t = time.perf_counter()
        samples(s)
        read_s = time.perf_counter() - t
        t = time.perf_counter()
        day = samples(s, parts=("capacity", "failures"))  # what `gpufleet status` reads
        read_capacity_s = time.perf_counter() - t
    plan = load_scenario(ROOT / "tests" / "live" / "register" / "devcluster.yaml")  # cost
    t = time.perf_counter()
    waste(day, plan)
    waste_s = time.perf_counter() - t
    later = T0 + timedelta(days=2, hours=1)
    t = time.perf_counter()
    with store.write("bench") as tx:
        done = ingest(tx, fleet(later + timedelta(minutes=1), 0), 60.0, retention=DEFAULT_RETENTION)
    merge_s = time.perf_counter() - t
    store.dispose()
    return {
        "read_day_all_rows_s": read_s,
        "read_day_capacity_s": read_capacity_s,
        "waste_day_s": waste_s,
        "merged": done.merged,
        "ingest_with_merge_s": merge_s,
        "samples": n,
    }


def steady_state(bytes_per_sample: float, rows: int) -> dict[str, Any]:
    raw = 2 * 24 * 60  # 2 days of one-minute samples
    hourly = 90 * 24
    daily_per_year = 365
    kept = raw + hourly
    return {
        "samples_kept": kept,
        "samples_added_per_year_after": daily_per_year,
        "rows_kept": kept * rows,
        "bytes_kept": kept * bytes_per_sample,
        "bytes_per_year_after": daily_per_year * bytes_per_sample,
        "without_retention_rows_per_year": 525_600 * rows,
        "without_retention_bytes_per_year": 525_600 * bytes_per_sample,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--read-samples", type=int, default=1440)
    ap.add_argument("--pg", default=os.environ.get("GPUFLEET_BENCH_PG_URL"))
    args = ap.parse_args()
    out: dict[str, Any] = {"fleet": {"gpus": NODES * GPUS_PER_NODE, "nodes": NODES}}
    with tempfile.TemporaryDirectory() as d:
        out["sqlite"] = measure(f"sqlite:///{d}/a.db", args.samples)
        out["sqlite_day"] = compaction(f"sqlite:///{d}/b.db", args.read_samples)
    if args.pg:
        out["postgresql"] = measure(args.pg, args.samples)
    for key in ("sqlite", "postgresql"):
        if key in out:
            out[f"{key}_steady_state"] = steady_state(
                out[key]["bytes_per_sample"], out[key]["rows_per_sample"]
            )
    print(json.dumps(out, indent=2))
    (ROOT / "bench" / "live_store_results.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
