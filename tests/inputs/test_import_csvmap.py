"""A plain CSV read through a column map: the map's own errors, delimiters, the three time
formats, bad values with their exact messages, and how ``load_file``/``load_source`` route a
CSV (a map is required) and refuse a map where it means nothing."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import pytest

from gpufleet.errors import InputError, UnknownNameError
from gpufleet.inputs.traces.detect import load_file
from gpufleet.inputs.traces.importers.columnmap import ColumnMap, MapField
from gpufleet.inputs.traces.importers.csvmap import load_csv
from gpufleet.inputs.traces.registry import load_source
from gpufleet.inputs.traces.rows import RowError, RowPolicy
from gpufleet.inputs.traces.workload import Workload

MAP = "submit=created_at,duration=runtime_s,gpus=num_gpus,gpu_type=model,queue=team,user=owner"
HEADER = "job_id,created_at,runtime_s,num_gpus,model,team,owner,state"
ROWS = (
    "j1,2024-05-01T10:00:00Z,3600,8,h100,vision,alice,done",
    "j2,2024-05-01T12:30:00+02:00,120.5,0.5,,nlp,bob,failed",
)
FIELDS = (
    "submit, start, end, duration, gpus, gpu_type, queue, user, status, cpus, memory_gb, job_id"
)


def write(tmp_path: Path, *lines: str, name: str = "jobs.csv") -> Path:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def load(path: Path, cmap: str = MAP, fmt: str | None = None, skip: bool = False) -> Workload:
    return load_csv(path, RowPolicy(str(path), skip=skip), cmap, fmt)


def error_of(path: Path, cmap: str = MAP, fmt: str | None = None) -> str:
    with pytest.raises(RowError) as info:
        load(path, cmap, fmt)
    return str(info.value)


# --- the map -------------------------------------------------------------------------------


def test_a_map_lists_each_field_with_its_column_in_order() -> None:
    m = ColumnMap.parse(" submit = t0 , gpus=n , start=a, end=b ")
    assert m.columns == (
        (MapField.SUBMIT, "t0"),
        (MapField.GPUS, "n"),
        (MapField.START, "a"),
        (MapField.END, "b"),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "sumbit=t,gpus=n,duration=d",
            f"--map: unknown field 'sumbit'; did you mean 'submit'? (expected one of {FIELDS})",
        ),
        (
            "submit,gpus=n,duration=d",
            "--map: 'submit' has no '=' (expected FIELD=COLUMN, e.g. "
            "submit=created_at,duration=runtime_s,gpus=num_gpus)",
        ),
        (
            "submit=t,gpus=n,duration=d,gpus=m",
            "--map: field 'gpus' is mapped twice (to 'n' and to 'm') "
            "(expected each field at most once)",
        ),
        (
            "submit=,gpus=n",
            "--map: field 'submit' has no column after '=' (expected submit=COLUMN)",
        ),
        (
            " , ",
            "--map: is empty (expected FIELD=COLUMN pairs separated by commas, e.g. "
            "submit=created_at,duration=runtime_s,gpus=num_gpus)",
        ),
        (
            "submit=t,duration=d",
            "--map: does not map gpus (expected a map that includes "
            "submit=created_at,duration=runtime_s,gpus=num_gpus)",
        ),
        (
            "submit=t,gpus=n,start=s",
            "--map: maps neither duration nor both start and end "
            "(expected duration=COLUMN (seconds), or start=COLUMN,end=COLUMN)",
        ),
    ],
    ids=["misspelt-field", "no-equals", "duplicate", "no-column", "empty", "no-gpus", "no-span"],
)
def test_a_bad_map_says_what_is_wrong_with_it(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        ColumnMap.parse(text)
    assert str(info.value) == message


def test_an_unknown_time_format_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError) as info:
        load(write(tmp_path, HEADER, *ROWS), fmt="epoch")
    assert str(info.value) == (
        "unknown time format 'epoch'; valid names: iso, relative-seconds, unix"
    )


def test_a_mapped_column_missing_from_the_header_lists_the_headers_columns(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, HEADER, *ROWS)
    assert error_of(path, MAP.replace("num_gpus", "gpu_count")) == (
        f"{path}:1: --map: column 'gpu_count' (for gpus) is not in the header (expected one of "
        "the header's columns: 'job_id', 'created_at', 'runtime_s', 'num_gpus', 'model', "
        "'team', 'owner', 'state')"
    )


# --- values --------------------------------------------------------------------------------


def test_iso_times_with_offsets_become_utc_seconds_after_the_first_submit(tmp_path: Path) -> None:
    w = load(write(tmp_path, HEADER, *ROWS), fmt="iso")
    assert w.origin == datetime(2024, 5, 1, 10, 0, 0)
    assert w.submit_s.tolist() == [0.0, 1800.0]
    assert w.duration_s.tolist() == [3600.0, 120.5]
    assert w.gpus.tolist() == [8.0, 0.5]
    assert w.gpu_type.tolist() == ["H100-SXM", ""]
    assert w.queue.tolist() == ["vision", "nlp"]
    assert w.user.tolist() == ["alice", "bob"]
    assert w.status.tolist() == ["", ""]  # status not mapped
    assert math.isnan(w.start_s[0]) and math.isnan(w.cpus[0])


def test_unix_seconds_set_the_origin_in_utc(tmp_path: Path) -> None:
    path = write(tmp_path, "t,d,g", "1714557600,60,1", "1714557660.5,60,2")
    w = load(path, "submit=t,duration=d,gpus=g", "unix")
    assert w.origin == datetime(2024, 5, 1, 10, 0, 0)
    assert w.submit_s.tolist() == [0.0, 60.5]


def test_relative_seconds_are_kept_as_they_are_without_an_origin(tmp_path: Path) -> None:
    path = write(tmp_path, "t,d,g", "30,60,1", "90,60,2")
    w = load(path, "submit=t,duration=d,gpus=g", "relative-seconds")
    assert w.origin is None
    assert w.submit_s.tolist() == [30.0, 90.0]


@pytest.mark.parametrize(
    ("first", "note"),
    [
        ("1714557600", "time format taken as unix from the first row's submit '1714557600'"),
        ("3600", "time format taken as relative-seconds from the first row's submit '3600'"),
        (
            "2024-05-01 10:00:00",
            "time format taken as iso from the first row's submit '2024-05-01 10:00:00'",
        ),
    ],
)
def test_without_a_time_format_the_first_submit_decides_and_the_notes_say_so(
    tmp_path: Path, first: str, note: str
) -> None:
    w = load(write(tmp_path, "t,d,g", f"{first},60,1"), "submit=t,duration=d,gpus=g")
    assert note in w.notes


def test_start_and_end_give_the_duration_and_empty_ones_leave_it_unknown(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "submitted,began,ended,gpus,status",
        "2024-05-01T10:00:00,2024-05-01T10:01:00,2024-05-01T10:31:00,4,COMPLETED",
        "2024-05-01T10:05:00,2024-05-01T10:06:00,,2,RUNNING",
        "2024-05-01T10:06:00,NA,null,2,PENDING",
    )
    w = load(path, "submit=submitted,start=began,end=ended,gpus=gpus,status=status", "iso")
    assert w.start_s[:2].tolist() == [60.0, 360.0] and math.isnan(w.start_s[2])
    assert w.duration_s[0] == 1800.0
    assert math.isnan(w.duration_s[1]) and math.isnan(w.duration_s[2])
    assert w.status.tolist() == ["COMPLETED", "RUNNING", "PENDING"]
    assert "2 job(s) without both a start and an end: duration NaN" in w.notes
    assert "6 CSV time(s) carried no time zone offset and were read as UTC" in w.notes


def test_with_duration_and_end_mapped_the_duration_wins_and_a_note_says_so(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "t,s,e,d,g", "0,0,999,60,1")
    w = load(path, "submit=t,start=s,end=e,duration=d,gpus=g", "relative-seconds")
    assert w.duration_s.tolist() == [60.0]
    assert "column 'e' (end) not read: run times come from 'd' (duration)" in w.notes


# --- delimiters ----------------------------------------------------------------------------


def test_a_semicolon_file_is_read_with_semicolons_and_the_notes_say_so(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER.replace(",", ";"), *(r.replace(",", ";") for r in ROWS))
    w = load(path)
    assert w.gpus.tolist() == [8.0, 0.5]
    assert "file read as ';'-delimited (from its header)" in w.notes


def test_a_semicolon_row_in_a_comma_file_asks_whether_delimiters_are_mixed(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, HEADER, ROWS[0], ROWS[1].replace(",", ";"))
    assert error_of(path) == (
        f"{path}:3: row: 1 field(s) where the header has 8; the row holds ';': does the file "
        "mix delimiters? (expected 8 fields separated by ',')"
    )


def test_quoted_fields_may_hold_the_delimiter(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, 'j1,2024-05-01T10:00:00Z,60,1,h100,"vision, west",alice,done')
    assert load(path).queue.tolist() == ["vision, west"]


# --- bad values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "j3,2024-05-01T10:00:00Z,-5,1,,q,u,s",
            "runtime_s: '-5' is a negative duration (expected seconds, 0 or more)",
        ),
        (
            "j3,2024-05-01T10:00:00Z,5,two,,q,u,s",
            "num_gpus: 'two' is not a number "
            "(expected a number of GPUs, 0 or more (fractions allowed))",
        ),
        (
            "j3,2024-05-01T10:00:00Z,5,-1,,q,u,s",
            "num_gpus: '-1' is negative (expected a number of GPUs, 0 or more (fractions allowed))",
        ),
        (
            "j3,2024-05-01T10:00:00Z,inf,1,,q,u,s",
            "runtime_s: 'inf' is not finite (expected seconds, 0 or more)",
        ),
        (
            "j3,,5,1,,q,u,s",
            "created_at: empty (expected a value for submit in every row)",
        ),
        (
            "j3,01/05/2024 10:00,5,1,,q,u,s",
            "created_at: '01/05/2024 10:00' is not a time "
            "(expected an ISO 8601 time such as 2024-05-01T10:00:00Z)",
        ),
    ],
    ids=[
        "negative-duration",
        "gpus-not-a-number",
        "negative-gpus",
        "infinite",
        "no-submit",
        "us-date",
    ],
)
def test_a_bad_value_stops_with_file_line_column_and_expected(
    tmp_path: Path, row: str, message: str
) -> None:
    path = write(tmp_path, HEADER, *ROWS, row)
    assert error_of(path) == f"{path}:4: {message}"


def test_an_end_before_the_start_names_both_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "t,began,ended,g", "0,100,50,1")
    assert error_of(path, "submit=t,start=began,end=ended,gpus=g", "relative-seconds") == (
        f"{path}:2: ended: '50' is before began '100' (expected an ended at or after the began)"
    )


def test_a_unix_time_that_is_not_a_number_says_which_format_was_asked(tmp_path: Path) -> None:
    path = write(tmp_path, "t,d,g", "2024-05-01,60,1")
    assert error_of(path, "submit=t,duration=d,gpus=g", "unix") == (
        f"{path}:2: t: '2024-05-01' is not a number "
        "(expected Unix seconds, a finite number (--time-format unix))"
    )


def test_skipping_counts_each_reason_and_keeps_the_rejected_rows(tmp_path: Path) -> None:
    negative = "j3,2024-05-01T10:00:00Z,-5,1,,q,u,s"
    path = write(tmp_path, HEADER, ROWS[0], negative, "j4;x", ROWS[1], negative)
    policy = RowPolicy(str(path), skip=True)
    w = load_csv(path, policy, MAP)
    assert len(w) == 2
    assert policy.skipped == {
        "runtime_s: '-5' is a negative duration": 2,
        "row: 1 field(s) where the header has 8; the row holds ';'": 1,
    }
    assert [line for line, _, _ in policy.rejects] == [3, 4, 6]
    assert policy.rejects[0][2] == negative


def test_an_empty_file_and_a_header_without_rows_are_errors(tmp_path: Path) -> None:
    empty = write(tmp_path, "", name="empty.csv")
    assert error_of(empty) == f"{empty}: the file is empty (expected a CSV file with a header line)"
    header_only = write(tmp_path, HEADER, name="header.csv")
    assert error_of(header_only) == (
        f"{header_only}:2: no data rows after the header (expected one row per job)"
    )


# --- routing -------------------------------------------------------------------------------


def test_load_file_without_a_map_names_map_and_lists_the_columns(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, *ROWS)
    with pytest.raises(InputError) as info:
        load_file(path, RowPolicy(str(path)))
    assert str(info.value) == (
        f"{path}: a plain CSV file, which needs a column map: --map FIELD=COLUMN,... "
        f"(fields: {FIELDS}; e.g. --map submit=created_at,duration=runtime_s,gpus=num_gpus). "
        "Its columns: 'job_id', 'created_at', 'runtime_s', 'num_gpus', 'model', 'team', "
        "'owner', 'state'. See docs/importing.md"
    )


def test_load_source_passes_the_map_and_time_format_through(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, *ROWS)
    w = load_source(str(path), None, column_map=MAP, time_format="iso")
    assert w.duration_s.tolist() == [3600.0, 120.5]


def test_a_time_format_without_a_map_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, *ROWS)
    with pytest.raises(InputError) as info:
        load_source(str(path), time_format="unix")
    assert str(info.value) == (
        f"{path}: --time-format applies to a CSV read with --map; csv files carry their own "
        "time format"
    )


def test_a_map_for_a_json_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pods.json"
    path.write_text('{"kind": "List", "items": []}', encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_file(path, RowPolicy(str(path)), column_map=MAP)
    assert str(info.value) == (
        f"{path}: --map is for CSV files; this is JSON (a Kubernetes list), which is read "
        "without a map"
    )


def test_a_map_for_a_parquet_workload_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(InputError) as info:
        load_source(str(path), column_map=MAP)
    assert str(info.value) == (
        f"{path}: --map applies to a CSV file; this is a Parquet workload, which is read without it"
    )
