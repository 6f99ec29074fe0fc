"""The ledger: workloads, stored API keys and one row per call.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workloads",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("on_cancel", sa.String(16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_workloads"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("workload", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["workload"], ["workloads.name"], name="fk_api_keys_workload_workloads"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_workload", "api_keys", ["workload"])
    op.create_table(
        "calls",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("workload", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("route", sa.String(32), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("billed_completion_tokens", sa.Integer(), nullable=False),
        sa.Column("token_source", sa.String(16), nullable=False),
        sa.Column("price_input", sa.Double(), nullable=False),
        sa.Column("price_output", sa.Double(), nullable=False),
        sa.Column("cost_usd", sa.Double(), nullable=False),
        sa.Column("cancelled_cost_usd", sa.Double(), nullable=False),
        sa.Column("batch_savings_usd", sa.Double(), nullable=False),
        sa.Column("ttft_ms", sa.Double(), nullable=True),
        sa.Column("duration_ms", sa.Double(), nullable=True),
        sa.Column("abort_latency_ms", sa.Double(), nullable=True),
        sa.Column("cancel_reason", sa.String(32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("response", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
    )
    op.create_index("ix_calls_workload_created_at", "calls", ["workload", "created_at"])
    op.create_index("ix_calls_status_created_at", "calls", ["status", "created_at"])
    op.create_index("ix_calls_created_at", "calls", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_created_at", table_name="calls")
    op.drop_index("ix_calls_status_created_at", table_name="calls")
    op.drop_index("ix_calls_workload_created_at", table_name="calls")
    op.drop_table("calls")
    op.drop_index("ix_api_keys_workload", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("workloads")
