"""Store fixtures for tests that run on both backends: load them in a test module with

    pytest_plugins = ["tests.support.stores"]

and take ``store``: an upgraded, empty :class:`Store`, once on SQLite (a temporary file)
and once on PostgreSQL (or ``module_url``: one such database shared by a module).
PostgreSQL runs when ``GPUFLEET_TEST_PG_URL`` names a server whose role may create databases (e.g. postgresql://gpufleet:gpufleet@127.0.0.1/gpufleet_test);
otherwise those cases skip saying why. Each test module gets its own database
``gpufleet_t_<random>`` (dropped at the end); each test starts from empty tables.
SQLite: the schema is migrated once per module into a template file that each test copies.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import Base

PG_ENV = "GPUFLEET_TEST_PG_URL"
BACKENDS = ["sqlite", "postgresql"]


def _admin_url(url: str) -> str:
    u = make_url(url)
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this module, migrated; dropped afterwards."""
    given = os.environ.get(PG_ENV)
    if not given:
        pytest.skip(f"{PG_ENV} is not set: the PostgreSQL cases need a server")
    name = f"gpufleet_t_{secrets.token_hex(6)}"
    admin = create_engine(_admin_url(given), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(_admin_url(given)).set(database=name).render_as_string(hide_password=False)
    st = Store(url)
    st.upgrade()
    st.dispose()
    try:
        yield url
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture(scope="module")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite file that each SQLite test copies."""
    path = tmp_path_factory.mktemp("store") / "template.db"
    st = Store(f"sqlite:///{path}")
    st.upgrade()
    st.dispose()
    return path


def _empty_pg(st: Store) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with st.engine.begin() as c:
        c.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An upgraded, empty store on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("store_template")
        path = tmp_path / "gpufleet.db"
        shutil.copyfile(template, path)
        st = Store(f"sqlite:///{path}")
    else:
        st = Store(request.getfixturevalue("pg_url"))
        _empty_pg(st)
    try:
        yield st
    finally:
        st.dispose()
