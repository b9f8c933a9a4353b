"""Store fixtures for tests that run on both backends: load them in a test module with

    pytest_plugins = ["tests.support.stores"]

and take ``store``: an upgraded, empty :class:`Store`, once on SQLite (a temporary file)
and once on PostgreSQL (or ``module_url``: one such database shared by a module).
PostgreSQL runs when ``GPUFLEET_TEST_PG_URL`` names a server whose role may create databases (e.g. postgresql://gpufleet:gpufleet@127.0.0.1/gpufleet_test);
otherwise those cases skip saying why.

Each test gets a copy of a template that is migrated (and, with ``seeded_store``, seeded)
once per worker: on SQLite a copy of the template's file, on PostgreSQL a database
``gpufleet_t_<random>`` made with ``CREATE DATABASE ... TEMPLATE`` and dropped after the
test. Copying a seeded template costs a tenth of seeding again (about 0.1 s against 1 to
1.5 s for the article's governed register on PostgreSQL, whose ``TRUNCATE`` alone took
0.5 s), and each test still starts from its own database: what one test writes, no other
sees.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from gpufleet.governance.store.db import Store

PG_ENV = "GPUFLEET_TEST_PG_URL"
BACKENDS = ["sqlite", "postgresql"]
T = TypeVar("T")


def admin_url(url: str) -> str:
    u = make_url(url)
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def _pg_given() -> str:
    given = os.environ.get(PG_ENV)
    if not given:
        pytest.skip(f"{PG_ENV} is not set: the PostgreSQL cases need a server")
    return given


def _pg_database_url(given: str, name: str) -> str:
    return make_url(admin_url(given)).set(database=name).render_as_string(hide_password=False)


def drop_database(admin: Engine, name: str) -> None:
    """Drop a test database, ours connected or not. ``WITH (FORCE)`` may not end an
    autovacuum worker (not our role's process) that has just connected to it: the drop is
    tried again until that worker has left (it does within seconds; 20 s at the most)."""
    for attempt in range(100):
        try:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except (OperationalError, ProgrammingError) as e:
            busy = ("must be a member of the role", "being accessed by other users")
            if attempt == 99 or not any(b in str(e) for b in busy):
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this module, migrated; dropped afterwards."""
    given = _pg_given()
    name = f"gpufleet_t_{secrets.token_hex(6)}"
    admin = create_engine(admin_url(given), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = _pg_database_url(given, name)
    st = Store(url)
    st.upgrade()
    st.dispose()
    try:
        yield url
    finally:
        try:
            drop_database(admin, name)
        finally:
            admin.dispose()  # even when the drop failed: no pooled connection left to the GC


@pytest.fixture(scope="module", params=BACKENDS)
def module_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One migrated, empty database per module and backend, for a module that seeds a
    register once and shares it between its tests: a SQLite file, or ``pg_url``'s."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('module') / 'fleet.db'}"
        st = Store(url)
        st.upgrade()
        st.dispose()
        return url
    pg: str = request.getfixturevalue("pg_url")
    return pg


# --- templates: migrated (and seeded) once per worker, copied per test ------------------------


def no_seed(store: Store) -> None:
    """The empty register: the template of ``store``."""


@dataclass
class Templates:
    """Per worker: for each (backend, seed function), a migrated store seeded by that
    function, and what the function returned (ids are the same in every copy). A
    PostgreSQL template is a database nobody stays connected to, so that
    ``CREATE DATABASE ... TEMPLATE`` may copy it."""

    folder: Path
    made: dict[tuple[str, str], tuple[str, Any]] = field(default_factory=dict)
    pg_names: list[str] = field(default_factory=list)
    _admin: Engine | None = None

    def admin(self) -> Engine:
        if self._admin is None:
            self._admin = create_engine(admin_url(_pg_given()), isolation_level="AUTOCOMMIT")
        return self._admin

    def create_pg(self, template: str | None = None) -> str:
        """A new database, a copy of ``template`` if given. A copy fails while anyone is
        connected to the template; the templates allow no connections (so autovacuum
        leaves them alone), and a copy that still meets one is tried again."""
        name = f"gpufleet_t_{secrets.token_hex(6)}"
        like = f' TEMPLATE "{template}"' if template else ""
        for attempt in range(20):
            try:
                with self.admin().connect() as c:
                    c.execute(text(f'CREATE DATABASE "{name}"{like}'))
                return name
            except OperationalError as e:
                if attempt == 19 or "being accessed by other users" not in str(e):
                    raise
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def close_to_connections(self, name: str) -> None:
        with self.admin().connect() as c:
            c.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))

    def drop_pg(self, name: str) -> None:
        """Drop a copy or template, ours connected or not (:func:`drop_database`)."""
        drop_database(self.admin(), name)

    def template(self, backend: str, seed: Callable[[Store], T]) -> tuple[str, T]:
        """The template's SQLite path or PostgreSQL database name, and ``seed``'s value."""
        key = (backend, f"{seed.__module__}.{seed.__qualname__}")
        if key not in self.made:
            if backend == "sqlite":
                where = str(self.folder / f"template-{len(self.made)}.db")
                url = f"sqlite:///{where}"
            else:
                where = self.create_pg()
                self.pg_names.append(where)
                url = _pg_database_url(_pg_given(), where)
            st = Store(url)
            try:
                st.upgrade()
                value = seed(st)
            finally:
                st.dispose()
            if backend != "sqlite":
                self.close_to_connections(where)
            self.made[key] = (where, value)
        where, value = self.made[key]
        return where, value

    def close(self) -> None:
        for name in self.pg_names:
            self.drop_pg(name)
        if self._admin is not None:
            self._admin.dispose()


@pytest.fixture(scope="session")
def store_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    templates = Templates(tmp_path_factory.mktemp("store-templates"))
    try:
        yield templates
    finally:
        templates.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The store's backend under test: ``sqlite`` or ``postgresql``."""
    name: str = request.param
    return name


SeededStore = Callable[[Callable[[Store], Any]], tuple[Store, Any]]
"""``seeded_store(seed)``: a store copied from a template that ``seed`` filled (seeded once
per worker and backend), and what ``seed`` returned. ``seed`` must be a module-level
function whose result holds only plain values (ids, names)."""


@pytest.fixture
def seeded_store(backend: str, store_templates: Templates, tmp_path: Path) -> Iterator[SeededStore]:
    opened: dict[Callable[[Store], Any], tuple[Store, Any]] = {}
    copies: list[str] = []

    def make(seed: Callable[[Store], Any]) -> tuple[Store, Any]:
        if seed in opened:  # the same test asks again (e.g. ``store`` and ``people``)
            return opened[seed]
        template, value = store_templates.template(backend, seed)
        if backend == "sqlite":
            path = tmp_path / f"gpufleet-{len(opened)}.db" if opened else tmp_path / "gpufleet.db"
            shutil.copyfile(template, path)
            st = Store(f"sqlite:///{path}")
        else:
            name = store_templates.create_pg(template)
            copies.append(name)
            st = Store(_pg_database_url(_pg_given(), name))
        opened[seed] = (st, value)
        return st, value

    try:
        yield make
    finally:
        for st, _ in opened.values():
            st.dispose()
        for name in copies:
            store_templates.drop_pg(name)


@pytest.fixture
def store(seeded_store: SeededStore) -> Store:
    """An upgraded, empty store on each backend."""
    st: Store = seeded_store(no_seed)[0]
    return st
