"""The public-trace loaders keep each job's own id and line (issue 14, after item 5), so a
replay's results join back to the source row.

Oracle: the first 300 jobs of each real trace (Pollux's workload-6 has 160), in the
workload's order (sorted by submit for Philly's Pollux extract), each looked up at its
``source_line`` in the file read independently with :mod:`csv`: that row's id column is
the job's ``job_id``. Skipped, saying why, where the traces folder is absent.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gpufleet.inputs.traces.registry import load_source
from gpufleet.inputs.traces.rows import RowPolicy
from tests.support.traces import trace_folder

# trace name -> (its folder, the jobs file in it, the file's id column; "" where it has none)
SOURCES = {
    "philly-2017-dirlab15k": ("philly-2017", "philly_jobs_dirlab15k.csv", "u_id"),
    "helios-2020": ("helios-2020", "helios_jobs_dirlab15k.csv", "u_id"),
    "acme-2023": ("acme-2023", "kalos_completed_subset_converted.csv", "job_id"),
    "pollux-sia-workloads": ("pollux-sia-workloads", "pollux/workloads/workload-6.csv", "name"),
    "alibaba-openb-v2023": ("alibaba-openb-v2023", "csv/openb_pod_list_default.csv", "name"),
    "philly-2017": ("philly-2017", "philly_jobs_pollux.csv", ""),
}


def _rows_by_line(path: Path) -> dict[int, dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        rows: dict[int, dict[str, str]] = {}
        for row in reader:
            rows[reader.line_num] = row  # the line the row ends on, as the loaders count
        return rows


@pytest.mark.parametrize("trace", list(SOURCES))
def test_each_job_keeps_the_id_and_line_of_its_row(trace: str) -> None:
    folder_name, file, id_column = SOURCES[trace]
    folder = trace_folder(folder_name)
    w = load_source(trace, RowPolicy(str(folder)))
    rows = _rows_by_line(folder / file)
    lines = w.source_line[:300].astype(int).tolist()
    assert len(lines) == min(300, len(w)) > 100
    assert len(set(w.source_line.tolist())) == len(w)  # each row's line once
    for i, line in enumerate(lines):
        row = rows[line]
        want = row[id_column] if id_column else ""  # Pollux's Philly extract has no id
        assert w.job_id[i] == want, (trace, i, line)
    if id_column:
        assert len(set(w.job_id.tolist())) == len(w)  # ids name one job each


def test_the_first_rows_hold_the_ids_the_files_start_with() -> None:
    # the files' first data rows (line 2): u_id 0, job_id 0, openb-pod-0000
    expected = {
        "philly-2017-dirlab15k": "0",
        "helios-2020": "0",
        "acme-2023": "0",
        "alibaba-openb-v2023": "openb-pod-0000",
    }
    for trace, first in expected.items():
        folder = trace_folder(SOURCES[trace][0])
        w = load_source(trace, RowPolicy(str(folder)))
        assert (w.job_id[0], w.source_line[0]) == (first, 2.0), trace
