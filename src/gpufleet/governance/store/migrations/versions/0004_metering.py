"""metering and intercompany statements: GPU-seconds per program, owner's pool, period
and source (sacct allocated, DCGM busy), and the statements issued (issue 13, items 6-7)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_S = sa.String
_KEY = (
    "cluster", "period_start", "period_end", "source", "account", "entity", "program", "owner",
    "pool", "site", "gpu_type",
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "meter_usage",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("cluster", _S(100), nullable=False),
        sa.Column("period_start", _S(40), nullable=False),
        sa.Column("period_end", _S(40), nullable=False),
        sa.Column("source", _S(10), nullable=False),
        *[sa.Column(n, _S(100), nullable=False) for n in _KEY[4:]],
        sa.Column("gpu_seconds", sa.Float(), nullable=False),
        sa.Column("jobs", sa.Integer(), nullable=False),
        sa.UniqueConstraint(*_KEY),
    )
    op.create_index("ix_meter_usage_period_start", "meter_usage", ["period_start"])
    op.create_table(
        "statements",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("period_start", _S(40), nullable=False),
        sa.Column("period_end", _S(40), nullable=False),
        sa.Column("giver", _S(100), nullable=False),
        sa.Column("taker", _S(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", _S(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("period_start", "period_end", "giver", "taker", "version"),
    )


def downgrade() -> None:
    op.drop_table("statements")
    op.drop_index("ix_meter_usage_period_start", "meter_usage")
    op.drop_table("meter_usage")
