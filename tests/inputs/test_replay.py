"""Replaying a normalized workload: fleet rules, job conversions and the CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpufleet.cli.main import main
from gpufleet.errors import InputError
from gpufleet.inputs.traces.replay import to_scenario
from gpufleet.inputs.traces.workload import FleetGroup, Workload, read_parquet, write_parquet
from gpufleet.sim.simulator import Simulation


def small(**extra: object) -> Workload:
    cols: dict[str, object] = {"queue": ["a", "a", "b", "b"]}
    cols.update(extra)
    return Workload.build(
        "w",
        [0.0, 60.0, 120.0, 180.0],
        [3600.0, 3600.0, 1800.0, 600.0],
        [1, 2, 4, 8],
        source="test",
        **cols,
    )  # type: ignore[arg-type]


def test_a_trace_without_a_fleet_needs_gpus_or_fleet() -> None:
    with pytest.raises(InputError, match=r"give --gpus N .* or --fleet SOURCE"):
        to_scenario(small())


def test_a_homogeneous_fleet_is_built_of_eight_gpu_nodes() -> None:
    with pytest.raises(InputError, match="8-GPU nodes"):
        to_scenario(small(), gpus=12)
    sc = to_scenario(small(), gpus=16)
    assert [(p.gpu_type, p.gpus_per_node, p.node_count) for p in sc.pools] == [("trace-gpu", 8, 2)]


def test_on_its_own_recorded_type_a_job_runs_exactly_its_recorded_duration() -> None:
    # H100-SXM has throughput 1.0 by definition; 4 jobs on 16 GPUs never wait:
    # JCT = duration exactly.
    w = small(gpu_type=["H100-SXM"] * 4)
    res = Simulation(to_scenario(w, gpus=16)).run()
    assert sorted(res.jobs["jct_s"].tolist()) == [600.0, 1800.0, 3600.0, 3600.0]
    assert res.summary["queueing_delay_s"]["max"] == 0.0


def test_conversions_are_counted_in_notes() -> None:
    w = Workload.build(
        "w",
        [0, 1, 2, 3, 4],
        [60, 60, float("nan"), 60, 60],
        [0.5, 0, 1, 64, 1],
        gpu_type=["", "", "", "", "T4"],
    )
    sc = to_scenario(w, fleet=(FleetGroup("H100-SXM", 8, 2),))
    notes = sc.description.splitlines()
    assert "1 job(s) with fractional GPUs rounded up to whole GPUs" in notes
    assert "dropped 1 job(s): CPU-only (no GPU)" in notes
    assert "dropped 1 job(s): unknown or zero duration" in notes
    assert "dropped 1 job(s): more GPUs than the fleet holds of its type" in notes
    assert "dropped 1 job(s): GPU model 'T4' not in the fleet" in notes
    jobs = [d for _, f in sc.workloads for d in f(0)]
    assert [d.gpus for d in jobs] == [1]


def test_unknown_gpu_models_join_the_catalog_at_throughput_one() -> None:
    w = small()
    sc = to_scenario(w, fleet=(FleetGroup("V100M32", 8, 2),))
    assert sc.catalog.get("V100M32").throughput == 1.0
    assert "GPU model 'V100M32' is not in the catalog: throughput 1.0 assumed" in (
        sc.description.splitlines()
    )


def test_quotas_split_each_type_by_gpu_hours_and_sum_exactly() -> None:
    # GPU-seconds: a = 1x3600 + 2x3600 = 10,800; b = 4x1800 + 8x600 = 12,000.
    # 16 GPUs x 10,800/22,800 = 7.58 -> 7, b: 8.42 -> 8; the one left goes to the larger
    # remainder (a, .58 > .42): a 8, b 8.
    sc = to_scenario(small(), gpus=16)
    nominal = {p.name: p.quotas[0][1].nominal_gpus for p in sc.programs()}
    assert nominal == {"a": 8, "b": 8}


def test_allocation_series_become_quotas_and_quota_changes() -> None:
    w = small(gpu_type=["H100-SXM"] * 4)
    w.allocations = {"a": ((0.0, 4.0), (100.0, 12.0)), "b": ((0.0, 12.0),)}
    sc = to_scenario(w, gpus=16, policy="quota")
    nominal = {p.name: p.quotas[0][1].nominal_gpus for p in sc.programs()}
    assert nominal == {"a": 4, "b": 12}
    assert [(q.program, q.nominal_gpus, sc.seconds(q.at)) for q in sc.quota_changes] == [
        ("a", 12, 100.0)
    ]


def test_scale_load_divides_arrival_times() -> None:
    sc = to_scenario(small(), gpus=16, scale_load=2.0)
    submits = sorted(d.submit_s for _, f in sc.workloads for d in f(0))
    assert submits == [0.0, 30.0, 60.0, 90.0]
    with pytest.raises(InputError, match="must be a positive number"):
        to_scenario(small(), gpus=16, scale_load=0)


def test_parquet_round_trip_keeps_every_column_and_the_metadata(tmp_path: Path) -> None:
    w = small(
        gpu_type=["V100", "", "V100", ""],
        user=["u1", "u2", "", "u1"],
        status=["ok"] * 4,
        cpus=[4, 8, 16, 32],
    )
    w.fleet = (FleetGroup("V100", 8, 4),)
    w.allocations = {"a": ((0.0, 16.0),)}
    w.notes = ["a note"]
    write_parquet(w, tmp_path / "w.parquet")
    r = read_parquet(tmp_path / "w.parquet")
    assert r.submit_s.tolist() == w.submit_s.tolist()
    assert r.gpu_type.tolist() == ["V100", "", "V100", ""]
    assert r.user.tolist() == ["u1", "u2", "", "u1"]
    assert r.cpus.tolist() == [4.0, 8.0, 16.0, 32.0]
    assert r.fleet == w.fleet and r.allocations == w.allocations and r.notes == ["a note"]
    assert [p.name for p in tmp_path.iterdir()] == ["w.parquet"]


def test_a_parquet_file_that_is_not_a_gpufleet_workload_is_refused(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1]}), tmp_path / "other.parquet")
    with pytest.raises(InputError, match="not a gpufleet workload"):
        read_parquet(tmp_path / "other.parquet")
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        read_parquet(tmp_path / "junk.parquet")


def test_cli_info_convert_and_replay_on_a_parquet_workload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "w.parquet"
    write_parquet(small(), src)
    assert main(["trace", "info", str(src), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    # GPU-hours: (1x3600 + 2x3600 + 4x1800 + 8x600) / 3600 = 22,800 / 3600 = 6.3
    assert info["jobs"] == 4 and info["gpu_hours"] == 6.3
    assert info["size_distribution"] == {"1": 1, "2": 1, "4": 1, "8": 1}
    out = tmp_path / "copy.parquet"
    assert main(["trace", "convert", str(src), str(out)]) == 0
    assert read_parquet(out).gpus.tolist() == [1.0, 2.0, 4.0, 8.0]
    capsys.readouterr()
    assert main(["replay", str(src), "--gpus", "16", "--policy", "drf", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["summary"]["jobs_finished"] == 4 and res["policy"] == "drf"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["replay", "{src}"], "give --gpus N", id="replay-without-a-fleet"),
        pytest.param(
            ["replay", "{src}", "--gpus", "16", "--policy", "nope"],
            "unknown policy 'nope'",
            id="replay-unknown-policy",
        ),
        pytest.param(
            ["replay", "{src}", "--gpus", "16", "--fleet", "{src}"],
            "give --fleet or --gpus, not both",
            id="replay-fleet-and-gpus",
        ),
        pytest.param(
            ["trace", "convert", "{src}", "{tmp}/out.csv"],
            "must be a .parquet file",
            id="convert-to-a-non-parquet-file",
        ),
        pytest.param(
            ["trace", "convert", "{src}", "{tmp}/nowhere/out.parquet"],
            "does not exist",
            id="convert-into-a-missing-folder",
        ),
        pytest.param(
            ["trace", "info", "{src}", "--time-format", "unix"],
            "--time-format applies to a plain CSV read with --map",
            id="time-format-without-a-map",
        ),
        pytest.param(
            ["trace", "info", "no-such-trace"],
            "unknown trace or file 'no-such-trace'",
            id="an-unknown-trace-name-lists-the-known-ones",
        ),
    ],
)
def test_trace_cli_misuse_exits_2_with_its_reason(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "w.parquet"
    write_parquet(small(), src)
    args = [a.format(src=src, tmp=tmp_path) for a in argv]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()


def test_sized_queues_keep_their_allocation_and_the_rest_is_shared_by_the_others() -> None:
    # Fleet: 8 GPUs of each of two types. Queue a has an allocation of 6 GPUs, spread by
    # capacity: 6 x 8/16 = 3 of each type. What is left of each type, 8 - 3 = 5, goes to
    # the unsized queue b (the only one, so all of it).
    w = small()
    w.allocations = {"a": ((0.0, 6.0),)}
    sc = to_scenario(w, fleet=(FleetGroup("H100-SXM", 8, 1), FleetGroup("A100-80GB", 8, 1)))
    quotas = {p.name: {t: q.nominal_gpus for t, q in p.quotas} for p in sc.programs()}
    assert quotas == {"a": {"A100-80GB": 3, "H100-SXM": 3}, "b": {"A100-80GB": 5, "H100-SXM": 5}}


def test_a_list_of_allowed_models_lets_a_job_run_on_any_of_them() -> None:
    # "P100|T4" on a fleet of T4 only: the job runs on T4; "K80|M60" fits no model: dropped
    w = Workload.build("w", [0, 1], [60, 60], [1, 1], gpu_type=["P100|T4", "K80|M60"])
    sc = to_scenario(w, fleet=(FleetGroup("T4", 8, 1),))
    jobs = [d for _, f in sc.workloads for d in f(0)]
    assert [d.gpu_types for d in jobs] == [("T4",)]
    assert "dropped 1 job(s): GPU model 'K80|M60' not in the fleet" in sc.description


def test_a_bad_row_is_reported_once_and_skipping_notes_it_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "jobs.csv"
    src.write_text("t,g,d\n0,1,60\n5,x,60\n9,2,30\n")
    spec = "submit=t,gpus=g,duration=d"
    assert (
        main(["trace", "info", str(src), "--map", spec, "--time-format", "relative-seconds"]) == 2
    )
    err = capsys.readouterr().err
    assert err.count(f"{src}:3") == 1, err
    rejects = tmp_path / "rejects.csv"
    assert (
        main(
            [
                "trace",
                "info",
                str(src),
                "--map",
                spec,
                "--time-format",
                "relative-seconds",
                "--on-error",
                "skip",
                "--rejects",
                str(rejects),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.count("skipped 1 row(s)") == 1, out
    assert rejects.read_text().count("\n") == 2  # header + the one bad row


def test_a_job_no_part_of_the_fleet_can_hold_stops_the_replay_unless_skipping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A 16-GPU job on a fleet of 8 GPUs (--gpus 8: one node of 'trace-gpu'): 16 > 8. The
    # times are relative (no origin) and start at 3,600 s: the error gives the source's
    # 3,780 s, not the 180 s after the first submit the replay counts from.
    w = Workload.build("w", [3600.0, 3780.0], [60.0, 60.0], [1, 16], job_id=["a1", "a2"])
    src = tmp_path / "w.parquet"
    write_parquet(w, src)
    assert main(["replay", str(src), "--gpus", "8"]) == 2
    err = capsys.readouterr().err
    assert (
        "w: job 'a2', row 2, submitted at 3,780 s, asks for 16 GPUs; no part of the fleet "
        "can hold it (at most 8 of trace-gpu)" in err
    )
    assert main(["replay", str(src), "--gpus", "8", "--on-error", "skip"]) == 0
    assert "dropped 1 job(s): more GPUs than the fleet holds of its type" in (
        capsys.readouterr().out
    )
