"""A minimal job list in CSV: ``submit_s,gpus,duration_s[,gpu_type]`` with a header.

This is the scenario's trace reference for now; the loaders for public traces (Philly,
Helios, Alibaba...) and for Slurm or Kubernetes exports are separate modules. Rows are read
when the scenario loads, so a bad row is reported with its line before anything runs.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from gpufleet.domain.ids import GpuTypeName
from gpufleet.domain.jobs import JobDraft
from gpufleet.errors import Problem

REQUIRED = ("submit_s", "gpus", "duration_s")


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
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            return None, [
                Problem(
                    "header",
                    f"missing column(s) {', '.join(missing)}",
                    "a header with submit_s,gpus,duration_s[,gpu_type]",
                    f,
                    1,
                )
            ]
        for row in reader:
            line = reader.line_num
            try:
                submit = float(row["submit_s"])
                gpus = int(row["gpus"])
                dur = float(row["duration_s"])
            except (TypeError, ValueError):
                problems.append(
                    Problem(
                        "row",
                        f"not numbers: {row!r}",
                        "submit_s and duration_s as numbers, gpus an integer",
                        f,
                        line,
                    )
                )
                continue
            if gpus <= 0 or dur <= 0 or submit < 0:
                problems.append(
                    Problem(
                        "row",
                        f"gpus={gpus}, duration_s={dur}, submit_s={submit}",
                        "gpus > 0, duration_s > 0, submit_s >= 0",
                        f,
                        line,
                    )
                )
                continue
            t = (row.get("gpu_type") or "").strip()
            if t and t not in known_types:
                problems.append(
                    Problem(
                        "gpu_type",
                        f"unknown GPU type {t!r}",
                        "one of " + ", ".join(known_types),
                        f,
                        line,
                    )
                )
                continue
            types = (GpuTypeName(t),) if t else tuple(GpuTypeName(x) for x in default_types)
            rows.append(JobDraft(submit + offset_s, gpus, dur, types))
    rows.sort(key=lambda d: d.submit_s)
    return (CsvTrace(tuple(rows)) if not problems else None), problems
