"""A minimal job list in CSV: ``submit_s,gpus,duration_s[,gpu_type]`` with a header.

This is the scenario's trace reference for now; the loaders for public traces (Philly,
Helios, Alibaba...) and for Slurm or Kubernetes exports are separate modules. Rows are read
when the scenario loads, so a bad row is reported with its line before anything runs.
Each problem names the CSV file, its line and the column.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from gpufleet.domain.ids import GpuTypeName
from gpufleet.domain.jobs import JobDraft
from gpufleet.errors import Problem

REQUIRED = ("submit_s", "gpus", "duration_s")
HEADER = "a header line submit_s,gpus,duration_s[,gpu_type]"


@dataclass(frozen=True)
class CsvTrace:
    drafts: tuple[JobDraft, ...]

    def stream(self, seed: int) -> Iterator[JobDraft]:
        return iter(self.drafts)


def read_csv_trace(
    path: Path, default_types: Sequence[str], known_types: Sequence[str], offset_s: float
) -> tuple[CsvTrace | None, list[Problem]]:
    f = str(path)
    if not path.is_file():
        return None, [
            Problem(
                "trace.path",
                f"no such file {f!r}",
                "a CSV file path, relative to the scenario file",
                f,
            )
        ]
    problems: list[Problem] = []
    rows: list[JobDraft] = []
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                found = f"; the header is {','.join(header)!r}" if header else ""
                return None, [
                    Problem(
                        "header", f"missing column(s) {', '.join(missing)}{found}", HEADER, f, 1
                    )
                ]
            for row in reader:
                draft, row_problems = _row(row, reader.line_num, f, default_types, known_types)
                problems += row_problems
                if draft is not None:
                    rows.append(
                        draft._replace(
                            submit_s=draft.submit_s + offset_s, source_row=reader.line_num
                        )
                    )
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        return None, [Problem("", f"cannot read the trace: {e}", "a UTF-8 CSV file", f)]
    rows.sort(key=lambda d: d.submit_s)
    return (CsvTrace(tuple(rows)) if not problems else None), problems


def _row(
    row: dict[str | None, str | list[str] | None],
    line: int,
    f: str,
    default_types: Sequence[str],
    known_types: Sequence[str],
) -> tuple[JobDraft | None, list[Problem]]:
    """One data row -> a draft, or the problems of each of its bad columns."""
    problems: list[Problem] = []

    def number(col: str, integer: bool, least: float, strict: bool) -> float:
        raw = row.get(col)
        text = raw.strip() if isinstance(raw, str) else ""
        kind = "an integer" if integer else "a number"
        bound = f"greater than {least:g}" if strict else f"of {least:g} or more"
        try:
            value = float(int(text)) if integer else float(text)
        except ValueError:
            what = "missing" if raw is None else f"{text!r} is not {kind}"
            problems.append(Problem(col, what, f"{kind} {bound}", f, line))
            return math.nan
        if not math.isfinite(value) or value < least or (strict and value == least):
            problems.append(Problem(col, f"{text} is out of range", f"{kind} {bound}", f, line))
        return value

    submit = number("submit_s", False, 0, strict=False)
    gpus = number("gpus", True, 0, strict=True)
    duration = number("duration_s", False, 0, strict=True)
    raw_type = row.get("gpu_type")
    t = raw_type.strip() if isinstance(raw_type, str) else ""
    if t and t not in known_types:
        problems.append(
            Problem(
                "gpu_type", f"unknown GPU type {t!r}", "one of " + ", ".join(known_types), f, line
            )
        )
    if problems:
        return None, problems
    types = (GpuTypeName(t),) if t else tuple(GpuTypeName(x) for x in default_types)
    return JobDraft(submit, int(gpus), duration, types), []
