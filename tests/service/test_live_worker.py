"""The server's live poller (``gpufleet serve --live-config FILE``) against real sources
that fail: the real ``squeue`` reading an empty ``slurm.conf`` (it exits at once with
"Unable to process configuration file") and a Prometheus URL where nothing listens
(connection refused). Each failure is recorded in the stored sample and shown by
``/live/status``, the register's GPUs are still counted (seen unknown), and the server
goes on; a cycle that raises (an empty register) is kept as the poller's last error; the
polling stops with the server, in process and as a real ``gpufleet serve`` stopped with
SIGTERM; a bad configuration file stops ``serve`` before it starts, exit 2 naming the
file, line and field.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gpufleet.errors import InputError
from gpufleet.governance.store.db import Store
from gpufleet.live import store as live_store
from gpufleet.live.config import load_settings
from gpufleet.service.app import create_app
from gpufleet.service.live_worker import LivePoller, poller_for
from gpufleet.service.ratelimit import RateLimit
from tests.service.live_fleet import seed_register
from tests.support.api import bearer
from tests.support.servers import CLI, ROOT, Server, cli, free_port

MAPPING = """\
slurm:
  accounts:
    tesla: {entity: tesla, program: fsd-training}
    xai: {entity: xai, program: grok}
  nodes:
    - {nodes: "gf-h100-1", site: memphis, pool: memphis-h100, entity: tesla}
gpu_types:
  h100: H100-SXM
  a100: A100-80GB
"""


def write_config(folder: Path, every: str = "5s", min_interval: str = "5s") -> Path:
    """A live configuration whose two sources fail at once, for real."""
    (folder / "mapping.yaml").write_text(MAPPING)
    (folder / "slurm.conf").write_text("")
    config = folder / "live.yaml"
    config.write_text(
        f"every: {every}\n"
        f"min_interval: {min_interval}\n"
        "mapping: mapping.yaml\n"
        "sources:\n"
        "  slurm:\n"
        f"    env: {{SLURM_CONF: {folder / 'slurm.conf'}}}\n"
        "    timeout: 10s\n"
        "  prometheus:\n"
        f"    url: http://127.0.0.1:{free_port()}\n"
        "    timeout: 5s\n"
    )
    return config


def wait_for(what: str, check: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {timeout_s} s"
        time.sleep(0.05)


@pytest.fixture
def fleet(store: Store) -> dict[str, str]:
    """The live tests' register (no samples) on both backends; its tokens."""
    return seed_register(store)


def app_with(store: Store, poller: LivePoller) -> TestClient:
    app = create_app(store, run_worker=False, rate_limit=RateLimit(0), live_poller=poller)
    return TestClient(app, raise_server_exceptions=False)


def test_failing_sources_are_recorded_in_the_stored_sample_and_the_server_goes_on(
    store: Store, fleet: dict[str, str], tmp_path: Path
) -> None:
    poller = poller_for(store, load_settings(write_config(tmp_path)))
    with app_with(store, poller) as c:
        wait_for("first cycle", lambda: poller.state.cycles >= 1)
        st = c.get("/api/v1/live/status", headers=bearer(fleet["root"])).json()
        assert c.get("/api/v1/health").status_code == 200
    assert not poller._thread.is_alive()  # stopped with the app
    assert poller.state.last_error is None
    by_source = {f["source"]: f for f in st["failures"]}
    assert set(by_source) == {"slurm", "prometheus"}
    assert "Unable to process configuration file" in by_source["slurm"]["error"]
    assert "127.0.0.1" in by_source["prometheus"]["asked"]
    # the register's 4 pools of 8 still counted; what the schedulers see is unknown
    assert sorted((c["entity"], c["site"], c["registered"], c["seen"]) for c in st["capacity"]) == [
        ("spacex", "starbase", 8.0, None),
        ("tesla", "buffalo", 8.0, None),
        ("tesla", "memphis", 8.0, None),
        ("xai", "colossus", 8.0, None),
    ]
    assert st["polling"] is True and st["poller"]["cycles"] >= 1
    assert st["poller"]["every_s"] == 5.0 and st["poller"]["config"].endswith("live.yaml")
    with store.read() as s:
        (sample,) = live_store.samples(s)
    assert sample.span_s == 5.0  # a sample stands for the file's `every`


def test_observe_now_stores_a_sample_and_says_which_sources_failed(
    store: Store, fleet: dict[str, str], tmp_path: Path
) -> None:
    poller = poller_for(store, load_settings(write_config(tmp_path)), periodic=False)
    with app_with(store, poller) as c:
        root = bearer(fleet["root"])
        resp = c.post("/api/v1/live/observe", headers=root)
        assert resp.status_code == 200, resp.text
        done = resp.json()
        assert {f["source"] for f in done["failures"]} == {"slurm", "prometheus"}
        assert done["rows"] >= 4 and done["sample_id"] >= 1
        # a scoped token may not make the server ask its sources
        tom = c.post("/api/v1/live/observe", headers=bearer(fleet["tom"]))
        assert tom.status_code == 403
    with store.read() as s:
        assert len(live_store.samples(s)) == 1
    assert poller.state.cycles == 1


def test_a_cycle_that_raises_is_kept_as_the_pollers_last_error_not_the_servers_death(
    store: Store, tmp_path: Path
) -> None:
    """An empty register: nothing to count against (gpufleet.live.plan.read_register)."""
    poller = poller_for(store, load_settings(write_config(tmp_path)))
    with app_with(store, poller) as c:
        wait_for("first cycle", lambda: poller.state.cycles >= 1)
        assert c.get("/api/v1/health").status_code == 200
    assert poller.state.last_error is not None
    assert "the register is empty" in poller.state.last_error


def test_a_period_shorter_than_the_servers_floor_is_refused_naming_the_file(
    tmp_path: Path, store: Store
) -> None:
    settings = load_settings(write_config(tmp_path, every="1s"))
    with pytest.raises(InputError, match=r"live\.yaml: every: 1s is shorter"):
        poller_for(store, settings)


# --- a real server ---------------------------------------------------------------------


def serve(db_url: str, config: Path, log_dir: Path) -> Server:
    port = free_port()
    log = log_dir / f"serve-live-{uuid.uuid4().hex[:6]}.log"
    args = [*CLI, "serve", "--db", db_url, "--port", str(port), "--log-level", "info"]
    args += ["--no-worker", "--live-config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    return Server(db_url, port, log, proc)


@pytest.fixture
def sqlite_fleet(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    s = Store(url)
    s.upgrade()
    try:
        yield url, seed_register(s)
    finally:
        s.dispose()


def test_gpufleet_serve_polls_the_files_sources_and_stops_cleanly_on_sigterm(
    sqlite_fleet: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, tokens = sqlite_fleet
    server = serve(url, write_config(tmp_path), tmp_path)
    try:
        server.wait_ready()
        root = bearer(tokens["root"])

        def polled() -> bool:
            st = httpx.get(server.url + "/api/v1/live/status", headers=root, timeout=10).json()
            return bool(st["poller"] and st["poller"]["cycles"] >= 1)

        wait_for("a cycle of the served poller", polled)
        server.proc.terminate()
        # uvicorn shuts the app down, then raises the signal again to exit by it
        assert server.wait_exit(timeout_s=20) in (0, -15), server.log_tail()
    finally:
        server.kill()
    log = server.log_tail(20_000)
    # printed once the lifespan's shutdown, which stops and joins the poller, returned
    assert "Application shutdown complete" in log, log
    assert "Traceback" not in log


def test_gpufleet_serve_with_a_bad_live_config_exits_2_naming_file_line_and_field(
    tmp_path: Path, sqlite_fleet: tuple[str, dict[str, str]]
) -> None:
    url, _ = sqlite_fleet
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("every: 5s", "every: 5s\nevry: 10s"))
    done = cli("serve", "--db", url, "--live-config", str(config), "--port", str(free_port()))
    assert done.returncode == 2, done.stderr
    assert f"{config}:2" in done.stderr and "evry" in done.stderr


def test_the_enactment_worker_runs_beside_the_poller_and_its_back_off_is_in_live_status(
    store: Store, fleet: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sources.slurm.enact`` on a Slurm that cannot be asked (an empty slurm.conf): each
    attempt fails for real, is backed off (5 s step: a wait in [2.5, 5) s), and shown."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # the apply lock's folder
    config = write_config(tmp_path)
    config.write_text(
        config.read_text().replace(
            "    timeout: 10s\n", "    timeout: 10s\n    enact: {cluster: gfdev, every: 30s}\n", 1
        )
    )
    poller = poller_for(store, load_settings(config))
    assert poller.enact is not None
    with app_with(store, poller) as c:
        wait_for("an enactment attempt", lambda: poller.enact.state().ticks >= 1)
        st = c.get("/api/v1/live/status", headers=bearer(fleet["root"])).json()
    enact = st["poller"]["enact"]
    assert enact["cluster"] == "gfdev" and enact["enforce"] is False
    assert enact["last"]["outcome"] == "failed"
    assert "scontrol show config" in enact["last"]["detail"]
    assert enact["failures_in_a_row"] >= 1
    started = datetime.fromisoformat(enact["last"]["at"])
    wake = datetime.fromisoformat(enact["next_wake"])
    assert 2.5 <= (wake - started).total_seconds() < 5.0
    assert not poller.enact._thread.is_alive()  # stopped with the app
