"""governance hardening: frozen transfer terms, token expiry and last use, audit anchoring,
run budgets

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# --- audit anchoring: triggers that refuse UPDATE and DELETE on audit_log ------------------
_REFUSE = "audit_log is append-only: UPDATE and DELETE are refused"
_APPEND_ONLY = {
    "sqlite": [
        f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
        f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END"
        for verb in ("UPDATE", "DELETE")
    ],
    "postgresql": [
        "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{_REFUSE} (%)', TG_OP USING ERRCODE = 'insufficient_privilege'; "
        "END $$",
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    ],
}
_APPEND_ONLY_DROP = {
    "sqlite": ["DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"],
    "postgresql": [
        "DROP TRIGGER audit_log_append_only ON audit_log",
        "DROP FUNCTION audit_log_append_only()",
    ],
}


def upgrade() -> None:
    # --- transfers: the terms a decision depends on, frozen when it is requested --------
    with op.batch_alter_table("transfers") as b:
        b.add_column(sa.Column("terms", sa.JSON(), nullable=True))
    # --- tokens: expiry and last use ------------------------------------------------------
    with op.batch_alter_table("tokens") as b:
        b.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    # --- audit anchoring (section owned by the audit work) --------------------------------
    # audit_log is append-only for everyone but someone who drops these triggers (an owner;
    # the signed checkpoints catch what they do). TRUNCATE is left to the role's grants
    # (gpufleet db grant-app-role): the tests empty every table between cases.
    for sql in _APPEND_ONLY[op.get_bind().dialect.name]:
        op.execute(sql)
    # --- runs: budgets and fairness (section owned by the runs work) ----------------------
    with op.batch_alter_table("runs") as b:
        b.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    # --- runs ------------------------------------------------------------------------------
    with op.batch_alter_table("runs") as b:
        b.drop_column("attempts")
    # --- audit anchoring ------------------------------------------------------------------
    for sql in _APPEND_ONLY_DROP[op.get_bind().dialect.name]:
        op.execute(sql)
    with op.batch_alter_table("tokens") as b:
        b.drop_column("last_used_at")
        b.drop_column("expires_at")
    with op.batch_alter_table("transfers") as b:
        b.drop_column("terms")
