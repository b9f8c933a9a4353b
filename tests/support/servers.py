"""Helpers for tests that run the service for real: a PostgreSQL database per test module,
a ``gpufleet serve`` child process on a free port, a small HTTP client, and the CLI.

The ``server_factory`` fixture (tests/conftest.py) starts servers and kills them all at
teardown.

``server_factory(db_url, worker=, env=, wait=, fault=)`` starts ``gpufleet serve`` on a
free port, waits until ``/api/v1/health`` answers and returns a :class:`Server`; with
``fault`` (e.g. ``"after-audit"``) the server runs through :mod:`tests.support.faulty_server`,
which installs that failpoint (the package itself has none). For a server shared
by a module, use :func:`running_server` in a module-scoped fixture. PostgreSQL comes from
``GPUFLEET_TEST_PG_URL`` (CI sets it); without it :func:`pg_base_url` skips the test and
says why.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

PG_ENV = "GPUFLEET_TEST_PG_URL"
CLI = (sys.executable, "-m", "gpufleet.cli")
FAULTY_CLI = (sys.executable, "-m", "tests.support.faulty_server")
ROOT = Path(__file__).resolve().parents[2]
"""The repository: on the children's ``PYTHONPATH``, so ``tests.support.faulty_server`` imports."""
READY_TIMEOUT_S = 60.0
"""How long a server may take to answer its first health check (imports, migrations)."""


# --- databases ----------------------------------------------------------------------------


def pg_base_url() -> str:
    """The test server's URL, or skip: no PostgreSQL configured."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set: no PostgreSQL server to test against")
    return url


def _admin_conn(base: str) -> Any:
    import psycopg

    libpq = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(libpq, autocommit=True)


@contextmanager
def pg_database(prefix: str = "gf_test") -> Iterator[str]:
    """A fresh, empty PostgreSQL database; its URL; dropped afterwards (connections and
    all: ``DROP DATABASE ... WITH (FORCE)``, PostgreSQL 13+)."""
    base = pg_base_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with _admin_conn(base) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        # imported here: tests.support.stores is a pytest plugin, rewritten when registered
        from tests.support.stores import admin_url, drop_database

        admin = create_engine(admin_url(base), isolation_level="AUTOCOMMIT")
        try:
            drop_database(admin, name)  # tried again while an autovacuum worker is connected
        finally:
            admin.dispose()


def sqlite_url(folder: Path, name: str = "fleet.db") -> str:
    return f"sqlite:///{folder / name}"


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    """A fresh database of either backend (``sqlite`` or ``postgresql``); its URL."""
    if backend == "postgresql":
        with pg_database() as url:
            yield url
    else:
        yield sqlite_url(folder)


# --- the CLI --------------------------------------------------------------------------------


def cli(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``gpufleet ARGS`` in a child process; its exit code, stdout and stderr."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=full_env, timeout=120, check=False
    )


def create_token(
    db_url: str,
    role: str,
    entity: str | None = None,
    person: str | None = None,
    name: str | None = None,
) -> str:
    """A token's secret from ``gpufleet admin create-token`` (the only way to the first one)."""
    args = ["admin", "create-token", "--role", role, "--db", db_url]
    for flag, value in (("--entity", entity), ("--person", person), ("--name", name)):
        if value is not None:
            args += [flag, value]
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


# --- the server process -------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """One ``gpufleet serve`` child process; its output goes to ``log``."""

    db_url: str
    port: int
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Poll ``/api/v1/health`` until it answers 200; fail with the log if the process
        exits first or the time runs out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(
                    f"server exited with {self.proc.returncode} before it was ready:\n"
                    + self.log_tail()
                )
            try:
                if httpx.get(self.url + "/api/v1/health", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready after {timeout_s} s:\n" + self.log_tail())

    def wait_exit(self, timeout_s: float = 30.0) -> int:
        return self.proc.wait(timeout=timeout_s)

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown hooks run."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """A clean stop (SIGTERM), then SIGKILL if it lingers."""
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def _spawn(
    db_url: str,
    log_dir: Path,
    worker: bool,
    env: Mapping[str, str] | None,
    fault: str | None = None,
) -> Server:
    port = free_port()
    log = log_dir / f"server-{port}-{uuid.uuid4().hex[:6]}.log"
    cli_args = [*CLI] if fault is None else [*FAULTY_CLI, fault]
    args = [*cli_args, "serve", "--db", db_url, "--port", str(port), "--log-level", "warning"]
    if not worker:
        args.append("--no-worker")
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    full_env = {**os.environ, "PYTHONPATH": path, **(env or {})}
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=full_env)
    return Server(db_url, port, log, proc)


def start_server(
    db_url: str,
    log_dir: Path,
    *,
    worker: bool = True,
    env: Mapping[str, str] | None = None,
    wait: bool = True,
    fault: str | None = None,
) -> Server:
    """Start ``gpufleet serve`` on a free port (``env`` adds variables; ``fault`` names a
    failpoint of :mod:`tests.support.faulty_server` to run it with); wait until it answers unless
    ``wait`` is False. A port taken between choosing it and binding it (another process
    was quicker) is tried again."""
    for attempt in range(3):
        server = _spawn(db_url, log_dir, worker, env, fault)
        if not wait:
            return server
        try:
            server.wait_ready()
            return server
        except BaseException:
            server.kill()
            if attempt == 2 or "address already in use" not in server.log_tail().lower():
                raise
    raise AssertionError("unreachable")


@contextmanager
def running_server(
    db_url: str, log_dir: Path, *, worker: bool = True, env: Mapping[str, str] | None = None
) -> Iterator[Server]:
    """A server for the length of a ``with`` (e.g. in a module-scoped fixture); killed at
    its end, whatever happened."""
    log_dir.mkdir(parents=True, exist_ok=True)
    server = start_server(db_url, log_dir, worker=worker, env=env)
    try:
        yield server
    finally:
        server.kill()


@dataclass
class ServerFactory:
    """Starts servers and remembers them, so teardown can kill every one."""

    log_dir: Path
    started: list[Server] = field(default_factory=list)

    def __call__(
        self,
        db_url: str,
        *,
        worker: bool = True,
        env: Mapping[str, str] | None = None,
        wait: bool = True,
        fault: str | None = None,
    ) -> Server:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        server = start_server(db_url, self.log_dir, worker=worker, env=env, wait=wait, fault=fault)
        self.started.append(server)
        return server

    def kill_all(self) -> None:
        for server in self.started:
            server.kill()


@contextmanager
def servers(log_dir: Path) -> Iterator[ServerFactory]:
    """A :class:`ServerFactory` whose servers are all killed when the ``with`` ends."""
    factory = ServerFactory(log_dir)
    try:
        yield factory
    finally:
        factory.kill_all()


# --- talking to it -------------------------------------------------------------------------


class Api:
    """A client of one server with one token: ``api.post("/transfers", {...})``; paths
    are relative to ``/api/v1``. Every call returns the response, whatever its status."""

    def __init__(self, base_url: str, token: str | None = None, timeout_s: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(
            base_url=base_url + "/api/v1", headers=headers, timeout=timeout_s
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params or None)

    def post(self, path: str, body: object = None) -> httpx.Response:
        return self.client.post(path, json=body if body is not None else {})

    def patch(self, path: str, body: object) -> httpx.Response:
        return self.client.patch(path, json=body)

    def delete(self, path: str) -> httpx.Response:
        return self.client.delete(path)

    def ok(self, method: str, path: str, body: object = None) -> Any:
        """The JSON of a call that must succeed (2xx); else fail with its body."""
        resp = self.client.request(method, path, json=body)
        assert resp.is_success, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None


def wait_until(
    check: Callable[[], bool],
    timeout_s: float = 60.0,
    what: str = "the condition",
    every_s: float = 0.1,
) -> None:
    """Poll ``check`` every ``every_s`` until true; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every_s)
    raise AssertionError(f"{what} did not happen within {timeout_s} s")


def error_code(resp: httpx.Response) -> str:
    """The machine code of an error response in the API's one shape."""
    body = resp.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "problems"} <= set(body["error"]), body
    code: str = body["error"]["code"]
    return code
