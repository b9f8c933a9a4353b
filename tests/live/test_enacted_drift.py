"""The enactment's drift in ``gpufleet status`` and ``GET /live/findings``: the
``enact-drift`` records the worker writes (:func:`gpufleet.live.enact.status.audit_drift`,
the worker's own function) are current until an enactment makes the setting again
(``enact-change``), current again when that change is rolled back to the value found, and
replaced by a newer drift of the same setting. Written through the real journal and
audit log on SQLite; read back by the command and the route."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gpufleet.cli.main import main
from gpufleet.governance.store.db import Store
from gpufleet.live.enact.drift import DriftFinding
from gpufleet.live.enact.journal import Journal
from gpufleet.live.enact.status import audit_drift
from gpufleet.live.enacted_drift import JournalEntry, current, read_current
from gpufleet.service.app import create_app
from gpufleet.service.ratelimit import RateLimit
from tests.service.live_fleet import live_fleet
from tests.support.api import bearer

CHANGED_AT = "2026-12-06T21:52:30"


def _found(target: str = "xai", found: int = 7, at: str = CHANGED_AT) -> DriftFinding:
    return DriftFinding("gfdev", target, "gres/gpu", found, 12, "root", at)


def _step(target: str, before: object, after: object) -> dict[str, Any]:
    return {"n": 1, "kind": "set", "target": target, "attribute": "gres/gpu",
            "causes": [], "transfers": [], "forward": ["sacctmgr"], "inverse": ["sacctmgr"],
            "before": before, "after": after}  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'r.db'}")
    s.upgrade()
    return s


def test_a_drift_audited_is_current_and_says_who_changed_what_and_when(store: Store) -> None:
    audit_drift(store, "live:enact", "gfdev", (_found(),), enforce=False)
    with store.read() as s:
        (d,) = read_current(s)
    assert (d.cluster, d.target, d.attribute, d.found, d.desired) == (
        "gfdev",
        "xai",
        "gres/gpu",
        7,
        12,
    )
    assert (d.actor, d.changed_at) == ("root", CHANGED_AT)
    assert (
        d.message
        == f"gfdev: xai gres/gpu is 7, the register says 12 (changed by root at {CHANGED_AT})"
    )


def test_an_enactment_of_the_setting_ends_it_and_a_rollback_to_the_value_found_brings_it_back(
    store: Store,
) -> None:
    audit_drift(store, "live:enact", "gfdev", (_found(),), enforce=True)
    journal = Journal(store, "live:enact", "gfdev")
    journal.change(_step("tesla", None, 4))  # another account's change: xai's drift stays
    with store.read() as s:
        assert [d.target for d in read_current(s)] == ["xai"]
    journal.change(_step("xai", 7, 12))  # --enforce made it 12
    with store.read() as s:
        assert read_current(s) == ()
    journal.rollback(_step("xai", 7, 12))  # ... and a refusal later undid it: 7 again
    with store.read() as s:
        assert [(d.target, d.found) for d in read_current(s)] == [("xai", 7)]


def test_a_newer_drift_of_the_same_setting_replaces_the_older_and_clusters_are_apart() -> None:
    def drift(seq: int, cluster: str, found: int) -> JournalEntry:
        body = _found(found=found).as_dict()
        return JournalEntry(seq, f"2026-12-06T22:0{seq}:00", "enact-drift", cluster, {}, body)

    change = JournalEntry(4, "2026-12-06T22:04:00", "enact-change", "other",
                          {}, {"target": "xai", "attribute": "gres/gpu", "value": 12})  # fmt: skip
    got = current([drift(1, "gfdev", 7), drift(2, "other", 5), drift(3, "gfdev", 9), change])
    # gfdev's 9 replaced its 7; other's 5 was made again by other's change, gfdev's not
    assert [(d.cluster, d.found, d.seq) for d in got] == [("gfdev", 9, 3)]


def test_gpufleet_status_shows_the_current_drift_in_text_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    live_fleet(url)  # three stored samples: the status has a fleet to show
    store = Store(url)
    audit_drift(store, "live:enact", "gfdev", (_found(),), enforce=False)
    assert main(["status", "--db", url, "--json"]) == 0
    (d,) = json.loads(capsys.readouterr().out)["enact_drift"]
    assert (d["target"], d["found"], d["desired"], d["actor"]) == ("xai", 7, 12, "root")
    assert d["changed_at"] == CHANGED_AT and d["audit_seq"] > 0
    assert main(["status", "--db", url]) == 0
    text = capsys.readouterr().out
    drift = text.split("\ndrift:\n", 1)[1]
    assert drift.splitlines()[1].startswith(
        f"  enacted: gfdev: xai gres/gpu is 7, the register says 12 (changed by root at "
        f"{CHANGED_AT}); audited at "
    )  # line 0: the fleet's own quota drift (xai's cap 4 against the plan's 8)


def test_live_findings_show_it_to_a_fleet_admin_and_not_to_an_entitys_viewer(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    fleet = live_fleet(url)
    store = Store(url)
    audit_drift(store, "live:enact", "gfdev", (_found(),), enforce=False)
    app = create_app(store, run_worker=False, rate_limit=RateLimit(per_minute=0))
    with TestClient(app, raise_server_exceptions=False) as c:
        root = c.get("/api/v1/live/findings", headers=bearer(fleet.tokens["root"]))
        viewer = c.get("/api/v1/live/findings", headers=bearer(fleet.tokens["xai-viewer"]))
    assert root.status_code == 200 and viewer.status_code == 200
    (d,) = root.json()["enact_drift"]
    assert (d["cluster"], d["target"], d["attribute"], d["actor"]) == (
        "gfdev",
        "xai",
        "gres/gpu",
        "root",
    )
    assert viewer.json()["enact_drift"] == []
    store.dispose()
