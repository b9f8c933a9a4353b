"""The fast path of squeue's jobs (gpufleet.live.slurm.jobs_fast) against the checked
path: on every squeue answer recorded on the real dev cluster it gives the same jobs, and
on a broken answer the error is the checked path's, naming the field, whatever was broken
(a seeded sweep: each field the reader uses, each wrong value, in a random job)."""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gpufleet.live.errors import SourceError
from gpufleet.live.jsonread import At
from gpufleet.live.slurm.jobs_fast import fast_job
from gpufleet.live.slurm.jobs_json import checked_job, parse_jobs

SAMPLES = Path(__file__).parent / "samples"
RECORDED = ("slurm", "story-slurm", "slurm-multinode")
AS_OF = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
SOURCE = "squeue --json"
FIELDS = (
    "job_id", "name", "user_name", "account", "partition", "qos", "job_state",
    "state_reason", "tres_req_str", "nodes", "gres_detail", "submit_time", "start_time",
    "end_time", "time_limit", "priority", "comment",
)  # fmt: skip
WRONG: tuple[object, ...] = (None, "x", 1.5, True, [], {}, {"set": True, "number": "x"}, -1)


def recorded(folder: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((SAMPLES / folder / "squeue-json.json").read_text())
    return doc


def checked_only(doc: dict[str, Any]) -> tuple[object, ...]:
    """Every job through the checked path alone (what parse_jobs did before the fast one)."""
    root = At(SOURCE, "", doc)
    return tuple(checked_job(j, AS_OF) for j in root.key("jobs").items())


def error_of(read: Any) -> str:
    with pytest.raises(SourceError) as err:
        read()
    return err.value.render()


@pytest.mark.parametrize("folder", RECORDED)
def test_every_recorded_job_is_read_by_the_fast_path_as_the_checked_path_reads_it(
    folder: str,
) -> None:
    doc = recorded(folder)
    fast = tuple(fast_job(raw, AS_OF) for raw in doc["jobs"])
    assert None not in fast  # 22.05's own answers never need the checked path
    assert fast == checked_only(doc)
    assert parse_jobs(At(SOURCE, "", doc), AS_OF) == fast


def test_the_newer_shapes_go_through_the_checked_path_and_give_the_same_job() -> None:
    doc = recorded("story-slurm")
    newer = copy.deepcopy(doc)
    for raw in newer["jobs"]:  # v0.0.39+: numbers as objects, the state as a list
        raw["time_limit"] = {"set": True, "infinite": False, "number": raw["time_limit"]}
        raw["job_state"] = [raw["job_state"]]
    assert all(fast_job(raw, AS_OF) is None for raw in newer["jobs"])
    assert parse_jobs(At(SOURCE, "", newer), AS_OF) == checked_only(doc)


def test_a_broken_field_gives_the_checked_paths_error_naming_it_seeded_sweep() -> None:
    doc = recorded("story-slurm")
    rng = random.Random(20261206)
    broke = 0
    for field in FIELDS:
        for wrong in WRONG:
            i = rng.randrange(len(doc["jobs"]))
            bad = copy.deepcopy(doc)
            bad["jobs"][i][field] = wrong
            root = At(SOURCE, "", bad)
            try:
                expected = checked_only(bad)
            except SourceError as exc:
                assert error_of(lambda r=root: parse_jobs(r, AS_OF)) == exc.render()
                assert f"jobs[{i}]" in exc.render()
                broke += 1
            else:  # a value the checked path accepts (e.g. gres_detail null): same jobs
                assert parse_jobs(root, AS_OF) == expected
    assert broke > len(FIELDS) * 3  # most wrong values are errors, not silently read


def test_a_missing_time_limit_names_the_job_and_the_field() -> None:
    bad = recorded("story-slurm")
    del bad["jobs"][2]["time_limit"]
    message = error_of(lambda: parse_jobs(At(SOURCE, "", bad), AS_OF))
    assert message.startswith("squeue --json: jobs[2].time_limit: missing")


def test_a_gres_detail_that_does_not_parse_names_its_job() -> None:
    doc = recorded("story-slurm")
    running = next(i for i, j in enumerate(doc["jobs"]) if j["job_state"] == "RUNNING")
    doc["jobs"][running]["gres_detail"] = ["gpu:h100:2(IDX:0--3)"]
    message = error_of(lambda: parse_jobs(At(SOURCE, "", doc), AS_OF))
    assert f"jobs[{running}].gres_detail[0]" in message
    assert "index range '0--3' is not understood" in message
