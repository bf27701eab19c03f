"""observability: metric samples, resource receipts, the request id of a task

Revision ID: 0004_observe
Revises: 0003_lifecycle
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import slices_bi.catalog.types
from alembic import op


revision: str = "0004_observe"
down_revision: str | None = "0003_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "metric_samples",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("labels", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column(
            "updated_at", slices_bi.catalog.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("name", "labels"),
    )
    op.create_table(
        "resource_receipts",
        sa.Column("resource_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("user_data_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("body", sa.JSON(), nullable=True),
        sa.Column(
            "created_at", slices_bi.catalog.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "recorded_at", slices_bi.catalog.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(["resource_id"], ["resources.id"]),
        sa.PrimaryKeyConstraint("resource_id"),
    )
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(
            sa.Column("correlation_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("correlation_id")
    op.drop_table("resource_receipts")
    op.drop_table("metric_samples")
