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


def upgrade() -> None:
    # --- transfers: the terms a decision depends on, frozen when it is requested --------
    with op.batch_alter_table("transfers") as b:
        b.add_column(sa.Column("terms", sa.JSON(), nullable=True))
    # --- tokens: expiry and last use ------------------------------------------------------
    with op.batch_alter_table("tokens") as b:
        b.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    # --- audit anchoring (section owned by the audit work) --------------------------------
    # --- runs: budgets and fairness (section owned by the runs work) ----------------------


def downgrade() -> None:
    # --- runs ------------------------------------------------------------------------------
    # --- audit anchoring ------------------------------------------------------------------
    with op.batch_alter_table("tokens") as b:
        b.drop_column("last_used_at")
        b.drop_column("expires_at")
    with op.batch_alter_table("transfers") as b:
        b.drop_column("terms")
