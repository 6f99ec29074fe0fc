"""The ledger's tables: workloads, stored API keys and one row per call (SQLAlchemy 2)."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Timestamp = DateTime(timezone=True)
Document = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
PICO = Decimal("1e-12")  # the smallest amount of money the ledger keeps, in USD
EXACT = Context(prec=60)  # wide enough that money arithmetic never rounds before `to_pico`


def as_decimal(value: Decimal | float | int | str) -> Decimal:
    """An amount as an exact Decimal (a float by its shortest decimal text, never its binary
    expansion)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def to_pico(value: Decimal | float | int | str) -> Decimal:
    """An amount rounded to the ledger's precision (12 decimal places, half to even)."""
    return as_decimal(value).quantize(PICO, ROUND_HALF_EVEN, EXACT)


class Money(TypeDecorator[Decimal]):
    """USD, exact: NUMERIC(38, 12) on Postgres, an integer count of pico-USD on SQLite (whose
    NUMERIC is a float; its integer sums stay exact up to about $9.2 million). Read back as
    Decimal; written from a Decimal, an int, a decimal string or a float (by its text)."""

    impl = Numeric(38, 12)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(38, 12, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = to_pico(value)
        if dialect.name == "sqlite":
            return int(amount.scaleb(12))
        return amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-12)
        return as_decimal(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Workload(Base):
    """A workload named in the config (upserted at start) or given a key at runtime."""

    __tablename__ = "workloads"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16), default="auto")
    on_cancel: Mapped[str] = mapped_column(String(16), default="abort")
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class ApiKey(Base):
    """A stored client key: only its sha256 is kept; `prefix` is for display."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workload: Mapped[str] = mapped_column(ForeignKey("workloads.name"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    limits: Mapped[Any | None] = mapped_column(Document, nullable=True)  # gateway.config.Limits


class CallRecord(Base):
    """One proxied (or deferred) call: tokens, cost at the call's prices, timing, outcome."""

    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workload: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128))
    provider: Mapped[str] = mapped_column(String(64))
    # the model name sent to the provider: with `provider`, the deployment that served the call
    upstream_model: Mapped[str | None] = mapped_column(String(256), nullable=True)
    route: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int] = mapped_column(Integer)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)  # all input, cached too
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    billed_completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)  # cache reads
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    token_source: Mapped[str] = mapped_column(String(16))
    price_input: Mapped[Decimal] = mapped_column(Money)  # USD per million tokens
    price_output: Mapped[Decimal] = mapped_column(Money)
    price_cache_read: Mapped[Decimal] = mapped_column(Money)
    price_cache_write: Mapped[Decimal] = mapped_column(Money)
    cost_usd: Mapped[Decimal] = mapped_column(Money, default=0)
    cancelled_cost_usd: Mapped[Decimal] = mapped_column(Money, default=0)
    batch_savings_usd: Mapped[Decimal] = mapped_column(Money, default=0)
    ttft_ms: Mapped[float | None] = mapped_column(Double, nullable=True)
    duration_ms: Mapped[float | None] = mapped_column(Double, nullable=True)
    abort_latency_ms: Mapped[float | None] = mapped_column(Double, nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    response: Mapped[Any | None] = mapped_column(Document, nullable=True)

    __table_args__ = (
        Index("ix_calls_workload_created_at", "workload", "created_at"),
        Index("ix_calls_status_created_at", "status", "created_at"),
        Index("ix_calls_created_at", "created_at"),
    )


workloads = cast(Table, Workload.__table__)
api_keys = cast(Table, ApiKey.__table__)
calls = cast(Table, CallRecord.__table__)
metadata = Base.metadata
CALL_COLUMNS = tuple(column.name for column in calls.columns)


def complete_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row made by an older gateway (spooled before an upgrade) with the columns it lacks:
    no upstream model, no cached tokens, and cache prices that were the input price."""
    row.setdefault("upstream_model", None)
    row.setdefault("cached_prompt_tokens", 0)
    row.setdefault("cache_write_tokens", 0)
    row.setdefault("price_cache_read", row.get("price_input", 0))
    row.setdefault("price_cache_write", row.get("price_input", 0))
    return row
