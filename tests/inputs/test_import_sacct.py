"""The Slurm importer on small ``sacct --parsable2`` exports written the way sacct writes them:
what each column becomes, which rows are skipped or kept, and the exact text of each error."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from gpufleet.errors import InputError
from gpufleet.inputs.traces.detect import load_file, sniff
from gpufleet.inputs.traces.importers.common import BadValue
from gpufleet.inputs.traces.importers.sacct import elapsed_s, load_sacct, parse_tres
from gpufleet.inputs.traces.importers.sacct_format import FORMAT, SacctFormat
from gpufleet.inputs.traces.rows import RowError, RowPolicy
from gpufleet.inputs.traces.workload import Workload

HEADER = FORMAT.replace(",", "|")
H100_JOB = (
    "4100|alice|vision|gpu|COMPLETED|2024-05-01T10:00:00|2024-05-01T10:05:00|"
    "2024-05-01T12:05:30|02:00:30|cpu=32,mem=256G,node=1,billing=32,gres/gpu=4,gres/gpu:h100=4|"
    "billing=32,cpu=32,gres/gpu=4,mem=256G,node=1"
)
STEPS = (
    "4100.batch|||gpu|COMPLETED|2024-05-01T10:05:00|2024-05-01T10:05:00|2024-05-01T12:05:30|"
    "02:00:30|cpu=32,gres/gpu=4,gres/gpu:h100=4,mem=256G,node=1|",
    "4100.extern|||gpu|COMPLETED|2024-05-01T10:05:00|2024-05-01T10:05:00|2024-05-01T12:05:30|"
    "02:00:30|billing=32,cpu=32,gres/gpu=4,mem=256G,node=1|",
    "4100.0|||gpu|COMPLETED|2024-05-01T10:05:01|2024-05-01T10:05:01|2024-05-01T12:05:29|"
    "02:00:28|cpu=32,gres/gpu=4,mem=256G,node=1|",
)
CANCELLED_PENDING = (
    "4101_3|bob|nlp|gpu|CANCELLED by 1001|2024-05-01T11:00:00|None|2024-05-01T11:30:00|"
    "00:00:00||billing=8,cpu=8,gres/gpu=1,mem=64G,node=1"
)
CPU_JOB = (
    "4102|carol|infra|cpu|FAILED|2024-05-01T11:10:00|2024-05-01T11:10:02|2024-05-01T11:10:44|"
    "00:00:42|cpu=4,mem=16000M,node=1,billing=4|billing=4,cpu=4,mem=16000M,node=1"
)
RUNNING = (
    "4103|dave|nlp|gpu|RUNNING|2024-05-02T09:00:00|2024-05-02T09:01:00|Unknown|1-02:03:04|"
    "cpu=16,mem=128G,node=1,billing=16,gres/gpu=2,gres/gpu:v100=2|"
    "billing=16,cpu=16,gres/gpu=2,mem=128G,node=1"
)
PENDING = (
    "4104|erin|vision|gpu|PENDING|2024-05-02T10:00:00|Unknown|Unknown|00:00:00||"
    "billing=64,cpu=64,gres/gpu=8,mem=512G,node=2"
)


def write(tmp_path: Path, *lines: str, name: str = "jobs.sacct") -> Path:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def load(path: Path, skip: bool = False) -> Workload:
    return load_sacct(path, RowPolicy(str(path), skip=skip))


def error_of(path: Path) -> str:
    with pytest.raises(RowError) as info:
        load(path)
    return str(info.value)


# --- what each column becomes ------------------------------------------------------------


def test_a_finished_h100_job_reads_elapsed_gpus_type_cpus_memory_account_and_user(
    tmp_path: Path,
) -> None:
    w = load(write(tmp_path, HEADER, H100_JOB))
    assert len(w) == 1
    assert w.origin == datetime(2024, 5, 1, 10, 0, 0)
    assert w.submit_s.tolist() == [0.0]
    assert w.start_s.tolist() == [300.0]
    assert w.duration_s.tolist() == [7230.0]
    assert w.gpus.tolist() == [4.0]
    assert w.gpu_type.tolist() == ["H100-SXM"]
    assert w.cpus.tolist() == [32.0]
    assert w.memory_gb.tolist() == [256.0]
    assert (w.queue[0], w.user[0], w.status[0]) == ("vision", "alice", "COMPLETED")
    assert w.name == "jobs" and w.source == str(tmp_path / "jobs.sacct")
    assert "GPU type 'h100' read as H100-SXM (1 job(s))" in w.notes


def test_job_steps_are_skipped_even_without_allocations_and_counted_in_a_note(
    tmp_path: Path,
) -> None:
    w = load(write(tmp_path, HEADER, H100_JOB, *STEPS))
    assert len(w) == 1
    assert "3 job step row(s) skipped (IDs with a '.'; the job's row counts)" in w.notes


def test_times_with_zone_offsets_are_normalized_to_utc(tmp_path: Path) -> None:
    job = (
        "7|ann|ml|gpu|COMPLETED|2024-05-01T12:00:00+0200|2024-05-01T12:30:00+0200|"
        "2024-05-01T09:45:00-0100|00:15:00|cpu=1,gres/gpu=1|"
    )
    w = load(write(tmp_path, HEADER, job))
    assert w.origin == datetime(2024, 5, 1, 10, 0, 0)
    assert w.start_s.tolist() == [1800.0]
    assert w.duration_s.tolist() == [900.0]
    assert not any("read as UTC" in n for n in w.notes)


def test_unix_seconds_from_slurm_time_format_percent_s_are_read_as_utc(tmp_path: Path) -> None:
    job = "7|ann|ml|gpu|COMPLETED|1714557600|1714557660|1714558260|00:10:00|gres/gpu=2|"
    w = load(write(tmp_path, "", HEADER, job))  # a blank line before the header is fine
    assert w.origin == datetime(2024, 5, 1, 10, 0, 0)
    assert (w.start_s[0], w.duration_s[0], w.gpus[0]) == (60.0, 600.0, 2.0)


def test_times_without_offsets_are_read_as_utc_and_the_notes_say_so(tmp_path: Path) -> None:
    w = load(write(tmp_path, HEADER, H100_JOB))
    assert "3 sacct time(s) carried no time zone offset and were read as UTC" in w.notes


def test_a_job_cancelled_while_pending_lasts_zero_and_keeps_the_first_word_of_its_state(
    tmp_path: Path,
) -> None:
    w = load(write(tmp_path, HEADER, CANCELLED_PENDING))
    assert math.isnan(w.start_s[0])
    assert w.duration_s.tolist() == [0.0]
    assert w.status.tolist() == ["CANCELLED"]
    assert w.gpus.tolist() == [1.0]  # from ReqTRES: never allocated
    assert "1 job(s) never allocated: GPUs, CPUs and memory from ReqTRES" in w.notes
    assert "1 job(s) ended without starting: duration 0" in w.notes


def test_running_and_pending_jobs_are_kept_with_an_unknown_duration(tmp_path: Path) -> None:
    w = load(write(tmp_path, HEADER, H100_JOB, RUNNING, PENDING))
    assert w.status.tolist() == ["COMPLETED", "RUNNING", "PENDING"]
    assert np.isnan(w.duration_s[1:]).all()
    assert w.start_s[1] == 23 * 3600 + 60  # 2024-05-02T09:01 is 23 h 1 min after the origin
    assert math.isnan(w.start_s[2])
    assert w.gpus.tolist() == [4.0, 2.0, 8.0]
    assert w.memory_gb.tolist() == [256.0, 128.0, 512.0]
    assert "1 job(s) not finished (RUNNING): duration NaN" in w.notes
    assert "1 job(s) not finished (PENDING): duration NaN" in w.notes


def test_a_cpu_only_job_is_kept_with_zero_gpus_and_any_type(tmp_path: Path) -> None:
    w = load(write(tmp_path, HEADER, CPU_JOB))
    assert w.gpus.tolist() == [0.0]
    assert w.gpu_type.tolist() == [""]
    assert w.memory_gb.tolist() == [16000 / 1024]
    assert w.duration_s.tolist() == [42.0]
    assert "1 job(s) without GPUs kept with gpus=0" in w.notes


def test_a_typed_gpu_the_catalog_lacks_keeps_its_name_with_a_note_not_an_error(
    tmp_path: Path,
) -> None:
    w = load(write(tmp_path, HEADER, RUNNING))
    assert w.gpu_type.tolist() == ["v100"]
    assert (
        "GPU type 'v100' is not a built-in type; kept as written (1 job(s)): "
        "add it under gpu_types: in the scenario, or rename it"
    ) in w.notes


def test_a_job_on_two_gpu_types_gets_type_any(tmp_path: Path) -> None:
    job = (
        "9|ann|ml|gpu|COMPLETED|2024-05-01T10:00:00|2024-05-01T10:00:00|2024-05-01T11:00:00|"
        "01:00:00|cpu=8,gres/gpu=4,gres/gpu:a100=2,gres/gpu:h100=2|"
    )
    w = load(write(tmp_path, HEADER, job))
    assert (w.gpus[0], w.gpu_type[0]) == (4.0, "")
    assert "1 job(s) with several GPU types kept with gpu_type '' (any)" in w.notes


def test_typed_counts_alone_are_summed_when_the_total_is_absent(tmp_path: Path) -> None:
    assert parse_tres("cpu=8,gres/gpu:a100=2", "AllocTRES").gpus == 2.0
    assert parse_tres("cpu=8,gres/gpu:a100=2", "AllocTRES").types == ("a100",)


def test_without_an_account_the_partition_is_the_queue(tmp_path: Path) -> None:
    job = H100_JOB.replace("|alice|vision|gpu|", "|alice||gpu-long|")
    assert load(write(tmp_path, HEADER, job)).queue.tolist() == ["gpu-long"]


def test_parsable_output_with_a_trailing_pipe_reads_the_same(tmp_path: Path) -> None:
    w = load(write(tmp_path, HEADER + "|", H100_JOB + "|"))
    assert (w.duration_s[0], w.gpus[0]) == (7230.0, 4.0)


def test_a_pipe_inside_a_job_name_is_put_back_together(tmp_path: Path) -> None:
    header = "JobID|JobName|Submit|Start|End|Elapsed|AllocTRES"
    row = (
        "5|train|eval|2024-05-01T10:00:00|2024-05-01T10:00:00|2024-05-01T10:01:00|00:01:00|"
        "gres/gpu=1"
    )
    w = load(write(tmp_path, header, row))
    assert (w.duration_s[0], w.gpus[0]) == (60.0, 1.0)


def test_without_elapsed_the_duration_is_end_minus_start(tmp_path: Path) -> None:
    header = "JobIDRaw|Submit|Start|End|AllocTRES"
    row = "5|2024-05-01T10:00:00|2024-05-01T10:00:10|2024-05-01T10:01:00|gres/gpu=1"
    assert load(write(tmp_path, header, row)).duration_s.tolist() == [50.0]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:00:42", 42.0),
        ("02:00:30", 7230.0),
        ("1-02:03:04", 93784.0),
        ("12-00:00:00", 1036800.0),
        ("05:07.250", 307.25),
        ("100:00:00", 360000.0),
    ],
)
def test_elapsed_reads_days_hours_minutes_seconds_forms(text: str, seconds: float) -> None:
    assert elapsed_s(text) == seconds


@pytest.mark.parametrize(
    ("mem", "gib"),
    [("64G", 64.0), ("16000M", 15.625), ("2T", 2048.0), ("1048576K", 1.0), ("512", 0.5)],
)
def test_tres_memory_units_are_slurms_binary_units(mem: str, gib: float) -> None:
    assert parse_tres(f"cpu=1,mem={mem}", "AllocTRES").memory_gb == gib


# --- errors ------------------------------------------------------------------------------


def test_a_malformed_elapsed_stops_with_file_line_column_and_the_expected_form(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, HEADER, H100_JOB, H100_JOB.replace("02:00:30", "2h"))
    assert error_of(path) == (
        f"{path}:3: Elapsed: '2h' is not a duration (expected [DD-]HH:MM:SS or MM:SS.mmm)"
    )


def test_minutes_over_59_are_out_of_range() -> None:
    with pytest.raises(BadValue) as info:
        elapsed_s("01:75:00")
    assert str(info.value) == "Elapsed: '01:75:00' is out of range"


def test_an_end_before_the_start_is_a_bad_row(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, H100_JOB.replace("2024-05-01T12:05:30", "2024-05-01T10:04:00"))
    assert error_of(path) == (
        f"{path}:2: End: '2024-05-01T10:04:00' is before Start '2024-05-01T10:05:00' "
        "(expected an End at or after Start)"
    )


def test_a_gpu_count_that_is_not_a_number_names_the_tres_item(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, H100_JOB.replace("gres/gpu=4,", "gres/gpu=four,"))
    assert error_of(path) == (
        f"{path}:2: AllocTRES: 'gres/gpu=four': 'four' is not a number "
        "(expected NAME=COUNT items such as cpu=8,mem=64G,gres/gpu=4)"
    )


def test_a_submit_that_is_not_a_time_is_a_bad_row(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, H100_JOB.replace("2024-05-01T10:00:00", "Unknown"))
    assert error_of(path) == (
        f"{path}:2: Submit: 'Unknown' is not a time "
        "(expected an ISO time such as 2024-05-01T10:00:00)"
    )


def test_a_row_with_too_few_fields_says_how_many_the_header_has(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, H100_JOB.rsplit("|", 2)[0])
    assert error_of(path) == (
        f"{path}:2: row: 9 field(s) where the header has 11 "
        "(expected 11 fields separated by '|', as sacct --parsable2 writes them)"
    )


def test_a_header_without_the_needed_fields_lists_what_is_missing_and_the_format(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "JobID|JobName|State", "1|x|COMPLETED")
    assert error_of(path) == (
        f"{path}:1: header: missing column(s) Submit, Start, End, AllocTRES (or ReqTRES); the "
        "header is 'JobID|JobName|State' (expected the columns JobID, Submit, Start, End and "
        "AllocTRES (ReqTRES may replace AllocTRES), as sacct --parsable2 "
        f"--format={FORMAT} writes them)"
    )


def test_an_empty_file_is_reported_as_empty(tmp_path: Path) -> None:
    path = write(tmp_path, "", "  ")
    assert error_of(path) == (
        f"{path}: the file is empty (expected sacct --parsable2 output with its header line)"
    )


def test_a_header_without_rows_points_at_starttime(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER)
    assert error_of(path) == (
        f"{path}:2: no job rows after the header (expected one row per job; sacct lists only "
        "today's jobs unless given --starttime)"
    )


def test_skipping_counts_each_reason_and_keeps_the_rejected_lines(tmp_path: Path) -> None:
    bad_elapsed = H100_JOB.replace("02:00:30", "2h")
    bad_end = CPU_JOB.replace("2024-05-01T11:10:44", "2024-05-01T11:00:00")
    path = write(tmp_path, HEADER, H100_JOB, bad_elapsed, bad_end, bad_elapsed)
    policy = RowPolicy(str(path), skip=True)
    w = load_sacct(path, policy)
    assert len(w) == 1
    assert policy.skipped == {"Elapsed: '2h' is not a duration": 2, "End: '2024-05-01T11": 1}
    assert [line for line, _, _ in policy.rejects] == [3, 4, 5]
    assert policy.rejects[0][2] == bad_elapsed
    assert "skipped 2 row(s): Elapsed: '2h' is not a duration" in w.notes


# --- another --delimiter, --noheader files -------------------------------------------------


def sacct_format(delimiter: str | None = None, columns: str | None = None) -> SacctFormat:
    return SacctFormat.from_flags(delimiter, columns)


def test_a_custom_delimiter_reads_the_same_job_as_the_default_one(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER.replace("|", ";|;"), H100_JOB.replace("|", ";|;"))
    w = load_sacct(path, RowPolicy(str(path)), sacct_format(";|;"))
    # the H100 job as above: 4 GPUs for Elapsed 02:00:30 = 7,230 s
    assert (w.gpus.tolist(), w.duration_s.tolist(), w.queue.tolist()) == (
        [4.0],
        [7230.0],
        ["vision"],
    )


def test_a_custom_delimiter_read_as_the_default_names_the_delimiter_not_missing_columns(
    tmp_path: Path,
) -> None:
    header = HEADER.replace("|", ";|;")
    path = write(tmp_path, header, H100_JOB.replace("|", ";|;"))
    assert sniff(path) == "sacct"  # a '|' and JobID on the first line
    assert error_of(path) == (
        f"{path}:1: header: the header's names are separated by ';|;', not by '|': the file "
        f"was written with sacct --delimiter=';|;'; the header is {header!r} "
        "(expected --delimiter ';|;' to read it)"
    )


def test_a_headerless_file_is_read_with_its_format_list_as_columns(tmp_path: Path) -> None:
    # sacct --noheader --parsable2 --format=JobID,Submit,Start,End,AllocTRES%40: no header, so
    # line 1 is a job; the %40 width is sacct's, not part of the name
    path = write(
        tmp_path,
        "7|2024-05-01T10:00:00|2024-05-01T10:01:00|2024-05-01T10:11:00|cpu=8,gres/gpu=2",
        "8|2024-05-01T10:02:00|2024-05-01T10:03:00|2024-05-01T10:04:00|gres/gpu=1",
    )
    fmt = sacct_format(columns="JobID,Submit,Start,End,AllocTRES%40")
    w = load_sacct(path, RowPolicy(str(path)), fmt)
    # no Elapsed: End - Start = 600 s and 60 s; submits 0 s and 120 s after the first
    assert w.submit_s.tolist() == [0.0, 120.0]
    assert w.duration_s.tolist() == [600.0, 60.0]
    assert w.gpus.tolist() == [2.0, 1.0]


def test_a_headerless_parsable_file_with_a_trailing_delimiter_reads_the_same(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path, "7;2024-05-01T10:00:00;2024-05-01T10:01:00;2024-05-01T10:11:00;gres/gpu=2;"
    )
    w = load_sacct(path, RowPolicy(str(path)), sacct_format(";", "JobID,Submit,Start,End,ReqTRES"))
    assert (w.duration_s.tolist(), w.gpus.tolist()) == ([600.0], [2.0])


def test_columns_without_the_required_fields_say_that_reqtres_may_replace_alloctres(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "7|2024-05-01T10:00:00|2024-05-01T10:01:00")
    assert (
        error_of_format(path, sacct_format(columns="JobID,Submit,Start"))
        == f"{path}: --columns: missing column(s) End, AllocTRES (or ReqTRES) in "
        "'JobID,Submit,Start' (expected sacct's --format list with JobID, Submit, Start, End "
        f"and AllocTRES (ReqTRES may replace AllocTRES), such as {FORMAT})"
    )


def test_a_headerless_row_of_the_wrong_width_says_how_many_columns_were_given(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "7|2024-05-01T10:00:00|2024-05-01T10:01:00|2024-05-01T10:11:00")
    fmt = sacct_format(columns="JobID,Submit,Start,End,AllocTRES")
    assert error_of_format(path, fmt) == (
        f"{path}:1: row: 4 field(s) where --columns lists 5 "
        "(expected 5 fields separated by '|', as sacct --parsable2 writes them)"
    )


@pytest.mark.parametrize(
    ("delimiter", "columns", "message"),
    [
        pytest.param("", None, "--delimiter '': expected the characters", id="empty-delimiter"),
        pytest.param(None, "JobID,,End", "--columns 'JobID,,End': an empty name", id="empty-name"),
    ],
)
def test_bad_delimiter_or_columns_flags_are_refused(
    delimiter: str | None, columns: str | None, message: str
) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        SacctFormat.from_flags(delimiter, columns)


def test_the_cli_reads_a_headerless_file_with_columns_and_delimiter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gpufleet.cli.main import main

    path = write(
        tmp_path, "7;|;2024-05-01T10:00:00;|;2024-05-01T10:01:00;|;2024-05-01T10:11:00;|;gres/gpu=2"
    )
    argv = [
        "trace",
        "info",
        str(path),
        "--delimiter",
        ";|;",
        "--columns",
        "JobID,Submit,Start,End,AllocTRES",
    ]
    assert main([*argv, "--json"]) == 0
    # 2 GPUs x 600 s = 1,200 GPU-s = 0.333 GPU-hours, 0.3 at one decimal
    assert json.loads(capsys.readouterr().out)["gpu_hours"] == 0.3
    assert main(["trace", "info", str(path), "--columns", "JobID", "--map", "submit=JobID"]) == 2
    assert "--map reads a plain CSV" in capsys.readouterr().err


def test_a_headerless_file_without_columns_is_told_about_columns_and_delimiter(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, H100_JOB)  # what sacct --noheader --parsable2 writes
    with pytest.raises(InputError) as info:
        load_file(path, RowPolicy(str(path)))
    assert (
        "if it is sacct output, give --delimiter for one other than '|', or --columns "
        "(sacct's --format list) for a file written with --noheader" in str(info.value)
    )


def error_of_format(path: Path, fmt: SacctFormat) -> str:
    with pytest.raises(RowError) as info:
        load_sacct(path, RowPolicy(str(path)), fmt)
    return str(info.value)


# --- dispatch and speed ------------------------------------------------------------------


def test_load_file_recognizes_sacct_output_by_its_content(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, H100_JOB, name="export.txt")
    assert sniff(path) == "sacct"
    assert load_file(path, RowPolicy(str(path))).gpus.tolist() == [4.0]
