"""Stored Responses API responses (`store: true`), background runs and their leases.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "responses",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(32), nullable=False),
        sa.Column("workload", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("background", sa.Boolean(), nullable=False),
        sa.Column("previous_response_id", sa.String(64), nullable=True),
        sa.Column("input", DOCUMENT, nullable=False),
        sa.Column("response", DOCUMENT, nullable=False),
        sa.Column("owner", sa.String(96), nullable=True),
        sa.Column("lease_until", sa.Double(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_responses"),
    )
    op.create_index(
        "ix_responses_workload_created_at", "responses", ["workload", "created_at"]
    )
    op.create_index("ix_responses_status_lease_until", "responses", ["status", "lease_until"])


def downgrade() -> None:
    op.drop_index("ix_responses_status_lease_until", table_name="responses")
    op.drop_index("ix_responses_workload_created_at", table_name="responses")
    op.drop_table("responses")
