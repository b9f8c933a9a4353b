"""Infinity and NaN written out in a trace's numeric cells (issue 14): ``-inf`` in a Unix
submit once passed the reader (a time had no lower bound) and ended ``trace info`` and
``replay`` in an OverflowError traceback. Every numeric field of a mapped CSV, read by the
CLI, and of a normalized Parquet workload must stop with the file, the line or row, the
field, what was wrong and what would be right, and exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpufleet.cli.main import main
from gpufleet.inputs.traces.workload import Workload, write_parquet

FIELDS = ("submit", "start", "end", "gpus", "cpus", "memory_gb")
GOOD = {
    "unix": ("1700000000", "1700000010", "1700000110", "1", "4", "8"),
    "relative-seconds": ("0", "10", "110", "1", "4", "8"),
}
EXPECTED = {
    "submit": "{kind}, a finite number (--time-format {fmt})",
    "start": "{kind}, a finite number (--time-format {fmt})",
    "end": "{kind}, a finite number (--time-format {fmt})",
    "gpus": "a number of GPUs, 0 or more (fractions allowed)",
    "cpus": "a number of CPU cores, 0 or more",
    "memory_gb": "GiB of memory, 0 or more",
}
MAP = ",".join(f"{f}={f}" for f in FIELDS)


def _csv(tmp_path: Path, fmt: str, field: str, value: str) -> Path:
    """Two jobs; the second has ``value`` in ``field``'s cell (line 3)."""
    second = list(GOOD[fmt])
    second[FIELDS.index(field)] = value
    path = tmp_path / "jobs.csv"
    path.write_text("\n".join([",".join(FIELDS), ",".join(GOOD[fmt]), ",".join(second)]) + "\n")
    return path


@pytest.mark.parametrize("command", ["info", "replay"])
@pytest.mark.parametrize("fmt", ["unix", "relative-seconds"])
@pytest.mark.parametrize("value", ["-inf", "inf", "-1e400", "-nan"])
@pytest.mark.parametrize("field", FIELDS)
def test_a_non_finite_cell_stops_with_its_line_and_field_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    field: str,
    value: str,
    fmt: str,
    command: str,
) -> None:
    path = _csv(tmp_path, fmt, field, value)
    argv = (
        ["trace", "info", str(path)] if command == "info" else ["replay", str(path), "--gpus", "8"]
    )
    assert main([*argv, "--map", MAP, "--time-format", fmt]) == 2
    kind = "Unix seconds" if fmt == "unix" else "seconds after the origin"
    expected = EXPECTED[field].format(kind=kind, fmt=fmt)
    err = capsys.readouterr().err
    assert f"{path}:3: {field}: {value!r} is not finite (expected {expected})" in err
    assert "Traceback" not in err and "internal error" not in err


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("submit_s", -np.inf, "-inf is not finite (expected finite seconds after the origin)"),
        ("submit_s", np.nan, "nan is NaN (expected finite seconds after the origin)"),
        (
            "duration_s",
            np.inf,
            "inf is not finite (expected finite seconds, 0 or more, or NaN (unknown))",
        ),
        ("gpus", np.nan, "nan is NaN (expected a finite number of GPUs, 0 or more)"),
        ("gpus", -2.0, "-2.0 is negative (expected a finite number of GPUs, 0 or more)"),
    ],
    ids=["submit-minus-inf", "submit-nan", "duration-inf", "gpus-nan", "gpus-negative"],
)
def test_a_parquet_workload_with_a_bad_number_names_its_row_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], column: str, value: float, message: str
) -> None:
    cols = {"submit_s": [0.0, 10.0, 20.0], "duration_s": [5.0, 5.0, 5.0], "gpus": [1.0] * 3}
    cols[column][1] = value
    path = tmp_path / "w.parquet"
    write_parquet(Workload.build("w", **cols), path)
    assert main(["trace", "info", str(path)]) == 2
    assert f"{path}: {column}: row 2: {message}" in capsys.readouterr().err
