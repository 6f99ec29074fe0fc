"""The ledger's tables: workloads, stored API keys and one row per call (SQLAlchemy 2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Timestamp = DateTime(timezone=True)
Document = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


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


class CallRecord(Base):
    """One proxied (or deferred) call: tokens, cost at the call's prices, timing, outcome."""

    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workload: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128))
    provider: Mapped[str] = mapped_column(String(64))
    route: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int] = mapped_column(Integer)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    billed_completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    token_source: Mapped[str] = mapped_column(String(16))
    price_input: Mapped[float] = mapped_column(Double)
    price_output: Mapped[float] = mapped_column(Double)
    cost_usd: Mapped[float] = mapped_column(Double, default=0.0)
    cancelled_cost_usd: Mapped[float] = mapped_column(Double, default=0.0)
    batch_savings_usd: Mapped[float] = mapped_column(Double, default=0.0)
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
