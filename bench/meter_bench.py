"""Metering a month of sacct records for 1,000,000 jobs (issue 13, "Benchmarks": aim under
30 s), against a bare baseline measured in the same run.

The input is generated in sacct's own format (``SLURM_TIME_FORMAT=%s sacct -a -X -P
--format=JobID,Account,User,Partition,State,Start,End,AllocTRES,NodeList``, the command
``gpufleet meter`` runs): 1M jobs of the dev cluster's accounts (tesla, xai, and 2% of an
account the mapping does not know) on its nodes (gf-h100-1, gf-h100-2, gf-a100-1, and 5%
on both H100 nodes), 1 to 8 GPUs in Slurm's TRES strings (typed and total entries, CPUs,
memory, billing), starting over December +/- 2 days (so some cross each end of the month),
running 1 minute to 2 days, 1% still running (End ``Unknown``), 1% never started.

Arms (medians of ``--repeats``, seconds):

- ``meter_s``: :func:`gpufleet.live.metering.run.meter` end to end, as ``gpufleet meter
  --sacct-file`` runs it: the register's pools read, every line checked and metered (the
  mapping's lookups, the clipping), the stored samples read, the rows replaced and the
  digest audited in one SQLite transaction (the register of tests/live/enact);
- ``parse_meter_s``: the reading and metering alone (no store);
- ``baseline_split_s``: the floor in pure Python: each line split on ``|``, two integers
  read and a product summed, nothing checked; ``ratio`` = meter_s / baseline_split_s.

    PYTHONPATH=src:. .venv/bin/python bench/meter_bench.py [--jobs 1000000] [--repeats 3]

Writes bench/meter_results.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from gpufleet.domain import default_catalog  # noqa: E402
from gpufleet.governance.register.plan import seed_from_scenario  # noqa: E402
from gpufleet.governance.store.db import Store  # noqa: E402
from gpufleet.live.mapping import load_mapping  # noqa: E402
from gpufleet.live.metering.meter import meter_jobs  # noqa: E402
from gpufleet.live.metering.period import month  # noqa: E402
from gpufleet.live.metering.run import _account_of, _placer, meter  # noqa: E402
from gpufleet.live.metering.sacct import FORMAT, read_jobs  # noqa: E402

PERIOD = month("2026-12")
MAPPING = ROOT / "tests/live/samples/mapping/devcluster.yaml"
REGISTER = ROOT / "tests/live/enact/register.yaml"
TARGET_S = 30.0


def generate(path: Path, jobs: int, seed: int = 1) -> None:
    rnd = random.Random(seed)
    s, e = PERIOD.start_epoch, PERIOD.end_epoch
    with path.open("w") as f:
        f.write(FORMAT.replace(",", "|") + "\n")
        for i in range(jobs):
            r = rnd.random()
            account = "ghost" if r < 0.02 else "tesla" if r < 0.6 else "xai"
            gpus = rnd.choice((1, 2, 4, 8))
            node, part, typ = rnd.choice(
                (("gf-h100-1", "h100", "h100"), ("gf-h100-2", "h100", "h100"),
                 ("gf-a100-1", "a100", "a100"))
            )  # fmt: skip
            if rnd.random() < 0.05:
                node, part, typ, gpus = "gf-h100-[1-2]", "h100", "h100", gpus * 2
            start = rnd.randrange(s - 2 * 86400, e + 2 * 86400)
            end = str(start + rnd.randrange(60, 2 * 86400))
            start_text = str(start)
            u = rnd.random()
            if u < 0.01:
                end, state = "Unknown", "RUNNING"
            elif u < 0.02:
                start_text, end, state, node = "Unknown", "Unknown", "PENDING", "None assigned"
            else:
                state = "COMPLETED"
            tres = (f"billing={gpus * 10},cpu={gpus * 4},gres/gpu:{typ}={gpus},gres/gpu={gpus},"
                    f"mem={gpus * 64}G,node=1") if state != "PENDING" else ""  # fmt: skip
            f.write(f"{1000 + i}|{account}|{account}1|{part}|{state}|{start_text}|{end}|"
                    f"{tres}|{node}\n")  # fmt: skip


def _baseline(path: Path) -> float:
    total = 0
    with path.open() as f:
        next(f)
        for line in f:
            c = line.split("|")
            if c[5].isdigit() and c[6].isdigit():
                total += int(c[6]) - int(c[5])
    return float(total)


def _parse_meter(path: Path, mapping: Any, pools: dict[str, str]) -> int:
    with path.open() as f:
        records, _, _ = meter_jobs(
            read_jobs(str(path), f), PERIOD, datetime(2027, 2, 1, tzinfo=UTC),
            _account_of(mapping), _placer(mapping, pools),
        )  # fmt: skip
    return len(records)


def _meter(path: Path, mapping: Any, store: Store) -> int:
    with path.open() as f:
        done, _ = meter(store, mapping, "bench", PERIOD, str(path), f,
                        datetime(2027, 2, 1, tzinfo=UTC), "bench")  # fmt: skip
    return done.jobs


def _timed(fn: Any, *args: Any) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "bench/meter_results.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "sacct.txt"
        t = time.perf_counter()
        generate(data, args.jobs)
        generate_s = time.perf_counter() - t
        store = Store(f"sqlite:///{work / 'register.db'}")
        store.upgrade()
        with store.write("bench") as tx:
            seed_from_scenario(tx, REGISTER)
        mapping = load_mapping(MAPPING, default_catalog())
        pools = {"memphis-h100": "H100-SXM", "colossus-h100": "H100-SXM",
                 "buffalo-a100": "A100-80GB"}  # fmt: skip
        arms: dict[str, list[float]] = {"meter_s": [], "parse_meter_s": [], "baseline_split_s": []}
        for _ in range(args.repeats):
            arms["baseline_split_s"].append(_timed(_baseline, data))
            arms["parse_meter_s"].append(_timed(_parse_meter, data, mapping, pools))
            arms["meter_s"].append(_timed(_meter, data, mapping, store))
        jobs_metered = _meter(data, mapping, store)
        size_mb = data.stat().st_size / 1e6
    median = {k: round(statistics.median(v), 3) for k, v in arms.items()}
    out = {
        "what": "gpufleet meter over a month of sacct records (bench/meter_bench.py)",
        "jobs": args.jobs, "jobs_with_gpu_seconds_in_december": jobs_metered,
        "input_mb": round(size_mb, 1), "generate_s": round(generate_s, 1),
        "repeats": args.repeats, "runs": {k: [round(x, 3) for x in v] for k, v in arms.items()},
        "median": median,
        "ratio_meter_over_baseline": round(median["meter_s"] / median["baseline_split_s"], 2),
        "target": {"meter_s_under": TARGET_S, "met": median["meter_s"] < TARGET_S},
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpu_model": platform.processor() or platform.machine()},
        "git": subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }  # fmt: skip
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out["median"] | {"ratio": out["ratio_meter_over_baseline"]}))


if __name__ == "__main__":
    main()
