"""The ingest bench's generated fleet (bench/ingest_bench.py) is observed as generated.

Its 100,000-GPU figure means something only if the cycle read the generated answers as
their generator meant them; here at 1,000 GPUs (125 nodes), every count hand-computed
from the generator's rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.bench import bench_module


def _ingest_bench() -> Any:
    return bench_module("ingest_bench")


def test_the_generated_1000_gpu_fleet_is_observed_and_found_as_generated(tmp_path: Path) -> None:
    got = _ingest_bench().measure(1000, repeats=2, work=tmp_path, day_samples=4)
    obs = got["observed"]
    # 125 nodes of 8: 25 A100 (one in five), 100 H100; node n is down when n % 100 == 99:
    # H100 node 99 only
    assert got["scene"]["nodes"] == 125 and got["scene"]["down_nodes"] == 1
    assert (obs["gpus_registered"], obs["gpus_seen"], obs["gpus_down"]) == (1000, 1000, 8)
    # two 4-GPU jobs on each node with n % 10 != 9: H100 90 nodes, A100 23 (not 9, 19)
    assert got["scene"]["running_jobs"] == 2 * (90 + 23)
    assert obs["gpus_allocated"] == 4 * 226  # 904
    assert obs["gpus_busy"] + obs["gpus_idle"] == 904  # every allocated GPU measured
    # one pending job per 10 GPUs, sizes 2, 4, 8 in turn: 33 rounds of 14, then a 2
    assert obs["gpus_asked_by_pending_jobs"] == 33 * 14 + 2
    assert obs["rows_stored"] > 0 and obs["samples_in_findings"] == 4  # 2 timed + 2 more
    # the down node's 8 GPUs are stranded now in the findings; H100 node 99 is xai's
    stranded = {(r["entity"], r["site"]): r["now"]["stranded"] for r in obs["fleet"]}
    assert stranded[("xai", "colossus")] == 8 and sum(stranded.values()) == 8
    assert got["total_s"] > 0
