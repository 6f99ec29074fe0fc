"""Exact money and 64-bit tokens in the ledger; cached input tokens and their prices.

Money columns become NUMERIC(38, 12) on Postgres and integer pico-USD on SQLite (the stored
floats are rounded to 12 decimal places); token columns become BIGINT. New columns:
`cached_prompt_tokens`, `cache_write_tokens` (0 on old rows) and `price_cache_read`,
`price_cache_write` (old rows: the input price, which is what their cached input cost).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TOKENS = ("prompt_tokens", "completion_tokens", "billed_completion_tokens")
MONEY = ("price_input", "price_output", "cost_usd", "cancelled_cost_usd", "batch_savings_usd")
NEW_TOKENS = ("cached_prompt_tokens", "cache_write_tokens")
NEW_PRICES = ("price_cache_read", "price_cache_write")
NUMERIC = sa.Numeric(38, 12)
PICO = 10**12


def _sqlite() -> bool:
    return op.get_context().dialect.name == "sqlite"


def _add_new_columns(money: sa.types.TypeEngine) -> None:
    for name in NEW_TOKENS:
        op.add_column("calls", sa.Column(name, sa.BigInteger(), nullable=True))
    for name in NEW_PRICES:
        op.add_column("calls", sa.Column(name, money, nullable=True))


def upgrade() -> None:
    if _sqlite():
        _upgrade_sqlite()
        return
    for name in TOKENS:
        op.alter_column("calls", name, type_=sa.BigInteger(), existing_type=sa.Integer())
    for name in MONEY:
        op.alter_column(
            "calls",
            name,
            type_=NUMERIC,
            existing_type=sa.Double(),
            postgresql_using=f"round({name}::numeric, 12)",
        )
    _add_new_columns(NUMERIC)
    op.execute(
        "UPDATE calls SET cached_prompt_tokens = 0, cache_write_tokens = 0, "
        "price_cache_read = price_input, price_cache_write = price_input"
    )
    for name in (*NEW_TOKENS, *NEW_PRICES):
        op.alter_column("calls", name, nullable=False)


def _upgrade_sqlite() -> None:
    """SQLite alters by copying the table: the values are converted first (floats to whole
    pico-USD, still in the old REAL columns), then one copy changes every type at once."""
    _add_new_columns(sa.BigInteger())
    to_pico = ", ".join(f"{name} = ROUND({name} * {PICO}.0)" for name in MONEY)
    op.execute(
        f"UPDATE calls SET {to_pico}, cached_prompt_tokens = 0, cache_write_tokens = 0, "
        f"price_cache_read = ROUND(price_input * {PICO}.0), "
        f"price_cache_write = ROUND(price_input * {PICO}.0)"
    )
    with op.batch_alter_table("calls", recreate="always") as batch:
        for name in TOKENS:
            batch.alter_column(name, type_=sa.BigInteger(), existing_type=sa.Integer())
        for name in MONEY:
            batch.alter_column(name, type_=sa.BigInteger(), existing_type=sa.Double())
        for name in (*NEW_TOKENS, *NEW_PRICES):
            batch.alter_column(name, nullable=False, existing_type=sa.BigInteger())


def downgrade() -> None:
    if _sqlite():
        with op.batch_alter_table("calls", recreate="always") as batch:
            for name in (*NEW_TOKENS, *NEW_PRICES):
                batch.drop_column(name)
            for name in TOKENS:
                batch.alter_column(name, type_=sa.Integer(), existing_type=sa.BigInteger())
            for name in MONEY:
                batch.alter_column(name, type_=sa.Double(), existing_type=sa.BigInteger())
        back = ", ".join(f"{name} = {name} / {PICO}.0" for name in MONEY)
        op.execute(f"UPDATE calls SET {back}")
        return
    for name in (*NEW_TOKENS, *NEW_PRICES):
        op.drop_column("calls", name)
    for name in TOKENS:
        op.alter_column("calls", name, type_=sa.Integer(), existing_type=sa.BigInteger())
    for name in MONEY:
        op.alter_column(
            "calls",
            name,
            type_=sa.Double(),
            existing_type=NUMERIC,
            postgresql_using=f"{name}::double precision",
        )
