"""lifecycle: each resource's timeline of events, and the expiry warnings sent

Revision ID: 0003_lifecycle
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import slices_bi.catalog.types
from alembic import op


revision: str = "0003_lifecycle"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resource_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("resource_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("at", slices_bi.catalog.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("task_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_resource_events_resource_id", "resource_events", ["resource_id"])
    op.create_index("ix_resource_events_task_id", "resource_events", ["task_id"])
    op.create_table(
        "expiry_warnings",
        sa.Column("resource_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("threshold_seconds", sa.Integer(), nullable=False),
        sa.Column("expires_at", slices_bi.catalog.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", slices_bi.catalog.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("webhook", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.PrimaryKeyConstraint("resource_id", "threshold_seconds", "expires_at"),
    )


def downgrade() -> None:
    op.drop_table("expiry_warnings")
    op.drop_index("ix_resource_events_task_id", table_name="resource_events")
    op.drop_index("ix_resource_events_resource_id", table_name="resource_events")
    op.drop_table("resource_events")
