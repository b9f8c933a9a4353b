"""PostgreSQL: an application role that cannot rewrite the audit log.

The server and the CLI should connect as a role that may do what the application does and
no more. :func:`grant_app_role` (``gpufleet db grant-app-role NAME``, run as the schema's
owner) gives an existing role:

=================  ==========================================================
audit_log          SELECT, INSERT: append and read; no UPDATE, DELETE, TRUNCATE
audit_head         SELECT, UPDATE: move the head (``SELECT ... FOR UPDATE`` needs
                   UPDATE); no INSERT, DELETE (the migration creates its one row)
alembic_version    SELECT: every command checks the schema is current
every other table  SELECT, INSERT, UPDATE, DELETE
sequences          USAGE, SELECT (new rows' ids)
=================  ==========================================================

and revokes everything else it had on those tables first, so running it again, or on a
role that had more, leaves exactly this. Migrations are then run by the owner
(``gpufleet db upgrade --db <owner's URL>``): the application role cannot change the schema.

Both backends also refuse UPDATE and DELETE on ``audit_log`` with triggers (migration 0002):
they stop the application's own bugs and a careless owner; an owner can drop them, which
is why the anchors (:mod:`.anchor`) exist.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, text

from gpufleet.errors import InputError
from gpufleet.governance.store.models import Base

_NAME = re.compile(r"[a-z_][a-z0-9_$]{0,62}")
LOG_GRANTS = {"audit_log": "SELECT, INSERT", "audit_head": "SELECT, UPDATE"}
DATA_GRANTS = "SELECT, INSERT, UPDATE, DELETE"


def statements(name: str, schema: str) -> list[str]:
    """The GRANT and REVOKE statements for role ``name`` in ``schema`` (both checked)."""
    q, sch = f'"{name}"', f'"{schema}"'
    out = [f"GRANT USAGE ON SCHEMA {sch} TO {q}"]
    for table in [*(t.name for t in Base.metadata.sorted_tables), "alembic_version"]:
        grant = "SELECT" if table == "alembic_version" else LOG_GRANTS.get(table, DATA_GRANTS)
        out.append(f'REVOKE ALL ON TABLE {sch}."{table}" FROM {q}')
        out.append(f'GRANT {grant} ON TABLE {sch}."{table}" TO {q}')
    out.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {sch} TO {q}")
    return out


def grant_app_role(engine: Engine, name: str) -> list[str]:
    """Give role ``name`` the application's rights and no more; the statements run."""
    if engine.dialect.name != "postgresql":
        raise InputError(
            f"db grant-app-role: {engine.dialect.name} has no roles (PostgreSQL only); on "
            "SQLite the triggers of migration 0002 still refuse UPDATE and DELETE on audit_log"
        )
    if not _NAME.fullmatch(name):
        raise InputError(
            f"role name {name!r}: expected a plain PostgreSQL role name "
            "(lowercase letters, digits, _ and $, starting with a letter or _, at most 63)"
        )
    with engine.begin() as c:
        exists = c.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name})
        if exists.scalar() is None:
            raise InputError(
                f"role {name!r} does not exist: create it first "
                f"(CREATE ROLE {name} LOGIN PASSWORD '...'), then grant it the app's rights"
            )
        schema = c.execute(text("SELECT current_schema()")).scalar_one()
        done = statements(name, schema)
        for sql in done:
            c.exec_driver_sql(sql)
    return done
