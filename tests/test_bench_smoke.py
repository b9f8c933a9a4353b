"""The benchmark harness runs end to end and writes every section; no timing is asserted.

Marked slow (1-2 minutes on the shared 2-core machine): pyproject's addopts keep it out of
the default run. Run it with ``pytest -m slow``. Performance targets are judged in
``bench/results.json``, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gpufleet.policies.registry import available_policies

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = {"targets", "synthetic", "baseline", "growth", "demo", "cases", "machine", "git"}
SECTIONS |= {"limit", "policies"}
ROW_FIELDS = {"case", "jobs", "gpus", "policy", "wall_s", "jobs_per_s", "events_per_s"}
ROW_FIELDS |= {"peak_rss_mib", "bytes_per_job", "events_per_s_vs_bare_heap", "repeats"}
ROW_FIELDS |= {"events_per_s_vs_limit"}


@pytest.mark.slow
def test_quick_bench_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    cmd = [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--out", str(out)]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=600)
    r = json.loads(out.read_text(encoding="utf-8"))

    assert r.keys() >= SECTIONS
    assert r["mode"] == "quick"
    assert {"python", "platform", "cpu_count", "cpu_model"} <= r["machine"].keys()
    assert "commit" in r["git"]
    policies = {(row["jobs"], row["policy"]) for row in r["synthetic"]}
    assert {(100_000, "fifo"), (100_000, "drf")} <= policies
    for row in r["synthetic"]:
        assert row.keys() >= ROW_FIELDS
        assert row["events_per_s"] > 0 and row["peak_rss_mib"] > 0 and row["bytes_per_job"] > 0
    assert r["baseline"]["events_per_s"] > 0
    assert [p["jobs"] for p in r["growth"]["points"]] == [10_000, 100_000]
    assert r["growth"]["us_per_event_largest_over_smallest"] > 0
    assert r["growth"]["big_fleet"]["us_per_event_ratio"] > 0
    one_million = [t for t in r["targets"] if "1M" in t["name"]]
    assert one_million and all(t["met"] is None for t in one_million), "--quick: no 1M job"
    assert r["demo"]["wall_s"] > 0
    md = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    assert md.startswith("# gpufleet bench")

    # the pure-Python limit ran at 100k jobs beside our fifo, and the ratio is a target
    (limit,) = r["limit"]
    assert (limit["jobs"], limit["gpus"]) == (100_000, 10_000)
    assert limit["events_per_s"] > 0 and limit["fifo_over_limit"] > 0
    assert limit["fifo_over_limit_cpu"] > 0
    ratio = next(t for t in r["targets"] if t["name"] == "fifo_over_pure_python_limit")
    assert ratio["measured"] == limit["fifo_over_limit"]

    # every registered policy against fifo in the same invocation: one table, one target row
    # per policy; --quick runs the synthetic fleet at 1,000 jobs only
    policies = json.loads((tmp_path / "policies_results.json").read_text(encoding="utf-8"))
    assert set(policies["policies"]) == {name for name, _, _ in available_policies()}
    assert all(set(per) == {"synthetic"} for per in policies["policies"].values())
    x_fifo = [t for t in r["targets"] if t["name"].startswith("x_fifo_")]
    assert len(x_fifo) == len(policies["policies"]) - 1
    assert "<!-- policies:start -->" in md and "in this `bench/run.py` run" in md
