"""Jobs submitted in the same second replay in the source's order whatever queues they are
mapped to, and keep their source id (issue 14, item 5)."""

from __future__ import annotations

import heapq
from datetime import datetime
from pathlib import Path

import pytest

from gpufleet.cli.main import main
from gpufleet.domain.ids import GpuTypeName
from gpufleet.domain.jobs import JobDraft
from gpufleet.inputs.scenario.load import load_scenario
from gpufleet.inputs.traces.replay import to_scenario
from gpufleet.inputs.traces.workload import Workload, read_parquet, write_parquet
from gpufleet.sim.simulator import Simulation, _arrival_key

IMPORTS = Path(__file__).resolve().parents[2] / "examples" / "imports"


def two_tied_jobs(queues: list[str]) -> Workload:
    """J0 (8 GPUs, 100 s) and J1 (8 GPUs, 50 s), both submitted at 0 s, J0 first in the file."""
    return Workload.build(
        "ties", [0.0, 0.0], [100.0, 50.0], [8, 8], queue=queues, job_id=["J0", "J1"]
    )


@pytest.mark.parametrize(
    "queues",
    [
        pytest.param(["b", "a"], id="first-row-in-the-later-queue-name"),
        pytest.param(["a", "b"], id="first-row-in-the-earlier-queue-name"),
        pytest.param(["a", "a"], id="one-queue"),
    ],
)
def test_two_queue_mappings_of_identical_jobs_give_the_same_fifo_result(
    queues: list[str],
) -> None:
    res = Simulation(to_scenario(two_tied_jobs(queues), "fifo", gpus=8)).run()
    # One 8-GPU node: J0 (row 1) runs 0..100 s, J1 waits and runs 100..150 s.
    # queueing mean (0 + 100) / 2 = 50 s; JCT mean (100 + 150) / 2 = 125 s. Ordered by
    # queue name instead, ["b", "a"] would run J1 first: queueing 25 s, JCT 100 s.
    assert res.summary["queueing_delay_s"]["mean"] == 50.0
    assert res.summary["jct_s"]["mean"] == 125.0
    if queues[0] != queues[1]:  # J0's queue waited 0 s, J1's 100 s
        assert res.programs[queues[0]]["queueing_delay_s"]["mean"] == 0.0
        assert res.programs[queues[1]]["queueing_delay_s"]["mean"] == 100.0


SCENARIO = """
name: ties
start: 2025-01-01
horizon_days: 1
policy: fifo
sites: [{{name: s1, power_kw: 1000}}]
entities:
  - name: e1
    programs:
      - {{name: {first}, quotas: {{H100-SXM: {{nominal: 8}}}},
         workload: {{trace: {{source: w.parquet, queue: {first}}}}}}}
      - {{name: {second}, quotas: {{H100-SXM: {{nominal: 8}}}},
         workload: {{trace: {{source: w.parquet, queue: {second}}}}}}}
pools: [{{name: pool1, site: s1, gpu_type: H100-SXM, nodes: 1, owner: e1}}]
"""


@pytest.mark.parametrize(
    ("queues", "declared"),
    [
        pytest.param(["x", "y"], ["x", "y"], id="first-row-in-the-first-declared-program"),
        pytest.param(["x", "y"], ["y", "x"], id="first-row-in-the-second-declared-program"),
        pytest.param(["y", "x"], ["x", "y"], id="queues-swapped"),
    ],
)
def test_a_scenario_whose_programs_share_a_trace_runs_its_ties_in_source_order(
    tmp_path: Path, queues: list[str], declared: list[str]
) -> None:
    """Programs taking two queues of one trace: the simulator merges their streams by
    (submit, row), so J0 (row 0) arrives first whichever program is declared first. Before,
    ties went to the earlier-declared program."""
    write_parquet(two_tied_jobs(queues), tmp_path / "w.parquet")
    text = SCENARIO.format(first=declared[0], second=declared[1])
    (tmp_path / "s.yaml").write_text(text)
    res = Simulation(load_scenario(tmp_path / "s.yaml")).run()
    # one 8-GPU node: J0 runs 0..100 s, J1 100..150 s: queueing mean (0 + 100) / 2 = 50 s,
    # JCT mean (100 + 150) / 2 = 125 s (J1 first would give 25 s and 100 s)
    assert res.summary["queueing_delay_s"]["mean"] == 50.0
    assert res.summary["jct_s"]["mean"] == 125.0
    assert res.programs[queues[0]]["queueing_delay_s"]["mean"] == 0.0


def test_arrivals_merge_by_submit_then_source_row_across_programs() -> None:
    t = (GpuTypeName("trace-gpu"),)
    # source rows 0..5: a, b, a, a, b at 0 s, then b at 5 s; one stream per queue
    rows = [("a", 0.0), ("b", 0.0), ("a", 0.0), ("a", 0.0), ("b", 0.0), ("b", 5.0)]
    drafts = [
        (q, JobDraft(at, 1, 1.0, t, name=f"j{i}", source_row=i)) for i, (q, at) in enumerate(rows)
    ]
    streams = {q: [d for p, d in drafts if p == q] for q in ("b", "a")}  # b's stream first
    merged = heapq.merge(*(((d, q) for d in ds) for q, ds in streams.items()), key=_arrival_key)
    assert [d.name for d, _ in merged] == ["j0", "j1", "j2", "j3", "j4", "j5"]


def test_the_source_job_id_survives_conversion_and_names_each_replayed_job(
    tmp_path: Path,
) -> None:
    src = tmp_path / "ties.parquet"
    write_parquet(two_tied_jobs(["a", "b"]), src)
    back = read_parquet(src)
    assert back.job_id.tolist() == ["J0", "J1"]
    sc = to_scenario(back, "fifo", gpus=8)
    names = [d.name for _, factory in sc.workloads for d in factory(0)]
    assert sorted(names) == ["J0", "J1"]


def test_a_parquet_file_written_before_job_ids_reads_them_as_unknown(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    src = tmp_path / "old.parquet"
    write_parquet(two_tied_jobs(["a", "b"]), src)
    table = pq.read_table(src)
    pq.write_table(table.drop_columns(["job_id", "source_line"]), src)
    old = read_parquet(src)
    assert old.job_id.tolist() == ["", ""]
    assert [x != x for x in old.source_line.tolist()] == [True, True]  # NaN


def test_a_sacct_export_keeps_job_ids_and_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "jobs.sacct"
    path.write_text(
        "JobID|Submit|Start|End|AllocTRES\n"
        "41|2024-05-01T10:00:00|2024-05-01T10:00:00|2024-05-01T10:01:40|gres/gpu=8\n"
        "41.batch|2024-05-01T10:00:00|2024-05-01T10:00:00|2024-05-01T10:01:40|gres/gpu=8\n"
        "42|2024-05-01T10:00:00|2024-05-01T10:00:00|2024-05-01T10:00:50|gres/gpu=16\n",
        encoding="utf-8",
    )
    out = tmp_path / "jobs.parquet"
    assert main(["trace", "convert", str(path), str(out)]) == 0
    w = read_parquet(out)
    assert w.job_id.tolist() == ["41", "42"]
    assert w.source_line.tolist() == [2.0, 4.0]  # the step on line 3 is skipped
    assert w.origin == datetime(2024, 5, 1, 10, 0, 0)
    capsys.readouterr()
    assert main(["replay", str(path), "--gpus", "8", "--json"]) == 2
    assert (
        f"{path}: job '42', line 4, submitted at 2024-05-01T10:00:00, asks for 16 GPUs; "
        "no part of the fleet can hold it (at most 8 of trace-gpu)" in capsys.readouterr().err
    )


def test_a_mapped_csv_and_a_kubernetes_list_keep_their_job_ids() -> None:
    from gpufleet.inputs.traces.registry import load_source

    csv = load_source(
        str(IMPORTS / "jobs.csv"),
        column_map="submit=created_at,duration=runtime_s,gpus=num_gpus,job_id=job",
    )
    assert csv.job_id.tolist() == ["j1", "j2", "j3", "j4", "j5"]  # the file's 'job' column
    assert csv.source_line.tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]  # line 1 is the header
    pods = load_source(str(IMPORTS / "pods.json"))
    assert pods.job_id.tolist()[:3] == [
        "fsd/fsd-pretrain-0",
        "fsd/fsd-finetune-0",
        "grok/grok-eval-0",
    ]
