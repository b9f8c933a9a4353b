"""slurmrestd on recorded answers: the version it serves is read from /openapi, the same
jobs and nodes come out as from the commands, and the later versions' shapes (numbers as
objects, states as lists) read the same as 22.05's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gpufleet.live.errors import SourceError, SourceUnavailableError
from gpufleet.live.slurm import JobState, NodeState, SlurmRestSource
from tests.live.replay import READ_AT, SAMPLES, rest_client


def test_discover_picks_the_newest_version_the_daemon_lists() -> None:
    client = rest_client()
    # 22.05 lists /slurm/v0.0.36, v0.0.37 and v0.0.38 paths (recorded /openapi)
    assert client.discover() == "v0.0.38"
    assert client.version == "v0.0.38"


def test_rest_jobs_and_nodes_match_what_the_commands_saw() -> None:
    client = rest_client()
    jobs = {j.job_id: j for j in client.jobs()}
    assert (jobs[13].state, jobs[13].reason, jobs[13].gpus) == (
        JobState.PENDING,
        "AssocGrpGRES",
        2,
    )
    assert [a.indices for a in jobs[9].allocations] == [(4, 5, 6, 7)]
    nodes = {n.name: n for n in client.nodes()}
    assert (nodes["gf-a100-1"].state, nodes["gf-a100-1"].reason) == (NodeState.DOWN, "no power")


def _later_shape(value: Any, key: str = "") -> Any:
    """22.05's answer rewritten the way v0.0.39+ write it: every number an object, every
    state a list (slurmrestd's v0.0.40 openapi schema: ``uint32_no_val``, ``job_state``
    as an array)."""
    if isinstance(value, dict):
        return {k: _later_shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_later_shape(v) for v in value]
    if key in ("job_state", "state") and isinstance(value, str):
        return [value.upper()]
    if isinstance(value, int) and not isinstance(value, bool):
        return {"set": True, "infinite": False, "number": value}
    return value


def _rewritten(path: str, version: str) -> str:
    doc = json.loads((SAMPLES / f"GET-slurm-v0-0-38-{path}.json").read_text())
    doc = _later_shape(doc)
    doc["meta"]["plugin"] = {"type": "openapi/slurmctld", "data_parser": f"data_parser/{version}"}
    return json.dumps(doc)


def test_later_versions_shapes_read_the_same_as_22_05s() -> None:
    def get(_socket: str, path: str) -> tuple[int, str]:
        return 200, _rewritten(path.rsplit("/", 1)[1], "v0.0.40")

    later = SlurmRestSource("/s", version="v0.0.40", get=get, clock=lambda: READ_AT)
    assert later.jobs() == rest_client().jobs()
    assert later.nodes() == rest_client().nodes()


def test_an_http_error_names_the_path_and_slurms_own_description() -> None:
    body = json.dumps(
        {
            "meta": {"plugin": {"type": "openapi/v0.0.38"}},
            "errors": [{"description": "Unable to find JobId=999", "error_number": 2017}],
            "jobs": [],
        }
    )
    client = SlurmRestSource("/s", get=lambda _s, _p: (500, body))
    with pytest.raises(SourceUnavailableError) as err:
        client.jobs()
    assert str(err.value) == (
        "slurmrestd unix:/s GET /slurm/v0.0.38/jobs: HTTP 500: Unable to find JobId=999 "
        "(expected HTTP 200)"
    )


def test_an_answer_from_another_plugin_version_is_refused() -> None:
    body = (SAMPLES / "GET-slurm-v0-0-38-jobs.json").read_text()
    client = SlurmRestSource("/s", version="v0.0.37", get=lambda _s, _p: (200, body))
    with pytest.raises(SourceError) as err:
        client.jobs()
    assert err.value.field == "meta.plugin"
    assert "openapi/v0.0.37" in str(err.value)


def test_a_daemon_serving_no_known_version_lists_what_it_serves() -> None:
    body = json.dumps({"paths": {"/slurm/v0.0.35/jobs": {}, "/slurm/v0.0.35/nodes": {}}})
    client = SlurmRestSource("/s", get=lambda _s, _p: (200, body))
    with pytest.raises(SourceError) as err:
        client.discover()
    assert str(err.value) == (
        "slurmrestd unix:/s GET /openapi: paths: serves job paths for ['v0.0.35'] "
        "(expected one of v0.0.41, v0.0.40, v0.0.39, v0.0.38)"
    )


def test_a_socket_nobody_listens_on_is_unavailable_naming_it(tmp_path: object) -> None:
    client = SlurmRestSource(f"{tmp_path}/none.sock")
    with pytest.raises(SourceUnavailableError) as err:
        client.nodes()
    assert err.value.source == f"slurmrestd unix:{tmp_path}/none.sock GET /slurm/v0.0.38/nodes"
    assert "cannot connect" in str(err.value)
