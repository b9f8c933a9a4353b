"""live observations: samples per instant and retention tier, with capacity, usage,
demand, caps in force, down nodes, unmapped names and source failures (issue 12)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_S = sa.String


def _sample_fk() -> sa.Column[Any]:
    return sa.Column(
        "sample_id",
        sa.Integer(),
        sa.ForeignKey("live_samples.id", ondelete="CASCADE"),
        nullable=False,
    )


def _floats(*names: str, nullable: bool = True) -> list[sa.Column[Any]]:
    return [sa.Column(n, sa.Float(), nullable=nullable) for n in names]


def _child(name: str, *columns: sa.Column[Any]) -> None:
    op.create_table(name, sa.Column("id", sa.Integer(), primary_key=True), _sample_fk(), *columns)
    op.create_index(f"ix_{name}_sample_id", name, ["sample_id"])


def upgrade() -> None:
    op.create_table(
        "live_configs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("digest", _S(64), nullable=False, unique=True),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("mapping", sa.Text(), nullable=False),
        sa.Column("first_used_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "live_samples",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tier", _S(10), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("span_s", sa.Float(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("busy_threshold_pct", sa.Float(), nullable=False),
        sa.Column("config_id", sa.Integer(), sa.ForeignKey("live_configs.id"), nullable=True),
        sa.UniqueConstraint("tier", "at"),
    )
    op.create_index("ix_live_samples_at", "live_samples", ["at"])
    _child(
        "live_capacity",
        sa.Column("entity", _S(100), nullable=False),
        sa.Column("site", _S(100), nullable=False),
        sa.Column("gpu_type", _S(100), nullable=False),
        *_floats("registered", nullable=False),
        *_floats("seen", "up", "down", "drained", "allocated", "unallocated"),
        *_floats("busy", "idle", "unmeasured", "unscheduled", "stranded"),
    )
    _child(
        "live_usage",
        sa.Column("entity", _S(100), nullable=True),
        sa.Column("program", _S(100), nullable=True),
        sa.Column("holder", _S(100), nullable=False),
        sa.Column("site", _S(100), nullable=False),
        sa.Column("gpu_type", _S(100), nullable=False),
        *_floats("allocated", nullable=False),
        *_floats("busy", "idle", "unmeasured"),
    )
    _child(
        "live_demand",
        sa.Column("entity", _S(100), nullable=True),
        sa.Column("program", _S(100), nullable=True),
        sa.Column("gpu_type", _S(100), nullable=True),
        sa.Column("reason", _S(60), nullable=True),
        sa.Column("scheduler_reasons", sa.Text(), nullable=False),
        *_floats("gpus", "jobs", nullable=False),
    )
    _child(
        "live_quotas",
        sa.Column("scheduler", _S(40), nullable=False),
        sa.Column("scope", _S(300), nullable=False),
        sa.Column("entity", _S(100), nullable=True),
        sa.Column("program", _S(100), nullable=True),
        sa.Column("gpu_type", _S(100), nullable=True),
        *_floats("gpus", "borrowing_limit"),
    )
    _child(
        "live_down_nodes",
        sa.Column("scheduler", _S(40), nullable=False),
        sa.Column("node", _S(253), nullable=False),
        sa.Column("entity", _S(100), nullable=False),
        sa.Column("site", _S(100), nullable=False),
        sa.Column("pool", _S(100), nullable=False),
        sa.Column("gpu_type", _S(100), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        sa.Column("state", _S(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        *_floats("span_s", nullable=False),
    )
    _child(
        "live_unmapped",
        sa.Column("kind", _S(40), nullable=False),
        sa.Column("name", _S(253), nullable=False),
        sa.Column("source", _S(40), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
    )
    _child(
        "live_failures",
        sa.Column("source", _S(40), nullable=False),
        sa.Column("asked", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    for name in (
        "live_failures",
        "live_unmapped",
        "live_down_nodes",
        "live_quotas",
        "live_demand",
        "live_usage",
        "live_capacity",
    ):
        op.drop_index(f"ix_{name}_sample_id", name)
        op.drop_table(name)
    op.drop_index("ix_live_samples_at", "live_samples")
    op.drop_table("live_samples")
    op.drop_table("live_configs")
