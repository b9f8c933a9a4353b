"""PostgreSQL: ``gpufleet db grant-app-role NAME`` leaves the application a role that can
write the register and append to the audit log, but gets a permission error for UPDATE,
DELETE and TRUNCATE on ``audit_log``, whatever the triggers say.

Needs a server whose test role may create roles (``CREATE ROLE gpufleet ... CREATEROLE``);
skips saying so otherwise. The app role is created here and dropped afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from gpufleet.cli.main import main
from gpufleet.governance.auth.tokens import create_token
from gpufleet.governance.register import ops
from gpufleet.governance.store import audit
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AccessRole

pytestmark = pytest.mark.security

PASSWORD = "app-role-test"


@pytest.fixture
def app_role(pg_url: str) -> Iterator[tuple[str, str]]:
    """(role name, the database URL that logs in as it), granted by the CLI."""
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        if not c.execute(text("SELECT rolcreaterole FROM pg_roles WHERE rolname = current_user"))\
                .scalar():  # fmt: skip
            pytest.skip("the test role may not create roles (CREATE ROLE ... CREATEROLE)")
        name = f"gf_app_{secrets.token_hex(4)}"
        c.execute(text(f"CREATE ROLE {name} LOGIN PASSWORD '{PASSWORD}'"))
    url = make_url(pg_url).set(username=name, password=PASSWORD)
    try:
        assert main(["db", "grant-app-role", name, "--db", pg_url]) == 0
        yield name, url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:  # its creator may take its rights to drop what it holds
            c.execute(text(f"GRANT {name} TO current_user"))
            c.execute(text(f"DROP OWNED BY {name}"))
            c.execute(text(f"DROP ROLE {name}"))
        admin.dispose()


def test_the_app_role_writes_through_the_store_but_cannot_rewrite_the_log(
    app_role: tuple[str, str],
) -> None:
    _, url = app_role
    app = Store(url)
    try:
        with app.write("app") as tx:
            ops.create(tx, "site", {"name": "by-the-app", "power_kw": 10})
            create_token(tx, "ro", AccessRole.FLEET_ADMIN, None)
        with app.write("app") as tx:
            ops.update(tx, "site", "by-the-app", {"power_kw": 20})
        with app.write("app") as tx:
            ops.delete(tx, "site", "by-the-app")
        with app.read() as s:
            assert audit.verify(s).ok
        for sql in (
            "UPDATE audit_log SET actor = 'x' WHERE seq = 1",
            "DELETE FROM audit_log WHERE seq = 1",
            "TRUNCATE audit_log",
            "DELETE FROM audit_head",
            "INSERT INTO audit_head (id, seq, hash) VALUES (2, 0, 'x')",
        ):
            with (
                pytest.raises(ProgrammingError, match="permission denied"),
                app.engine.begin() as c,
            ):
                c.exec_driver_sql(sql)
        with app.read() as s:
            assert len(list(audit.iter_records(s))) == 4
        assert main(["audit", "verify", "--db", url]) == 0  # the CLI runs as the app role
    finally:
        app.dispose()


def test_grant_app_role_refuses_what_it_cannot_do(
    pg_url: str, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "grant-app-role", "nobody_like_this", "--db", pg_url]) == 2
    assert "does not exist: create it first" in capsys.readouterr().err
    assert main(["db", "grant-app-role", "Robert'); DROP", "--db", pg_url]) == 2
    assert "expected a plain PostgreSQL role name" in capsys.readouterr().err
    assert main(["db", "grant-app-role", "app", "--db", f"sqlite:///{tmp_path}/x.db"]) == 2
    assert "PostgreSQL only" in capsys.readouterr().err
