"""The batch lane's tables: deferred calls, provider jobs, and the Batch API's files and batches.

Scheduling columns (`lease_until`, `next_poll_at`, `next_delivery_at`) are epoch seconds, so
every database compares them the same way; other timestamps are UTC `DateTime`s.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Double,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from gateway.ledger.models import Document, Timestamp, metadata

batch_calls = Table(
    "batch_calls",
    metadata,
    Column("id", String(32), primary_key=True),  # the call id: ledger id, request id
    Column("workload", String(64), nullable=False),
    Column("key_id", String(32)),
    Column("model", String(128), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("route", String(32), nullable=False),  # chat, completions, ..., messages, responses
    Column("shape", String(16), nullable=False),  # the caller's API: openai | anthropic | responses
    Column("lane", String(16), nullable=False),  # native | emulated
    Column("status", String(16), nullable=False),
    Column("body", Document, nullable=False),  # the caller's request body
    Column("client_headers", Document),  # anthropic-version / -beta to pass on
    Column("custom_id", String(512)),  # the caller's custom_id (Batch API items)
    Column("batch_id", String(64)),  # the gateway batch the call belongs to
    Column("job_id", String(32)),  # the provider job carrying it (native lane)
    Column("attempts", Integer, nullable=False, default=0),
    Column("owner", String(96)),  # the worker running it (emulated lane)
    Column("lease_until", Double),
    Column("http_status", Integer),
    Column("error", Text),
    Column("callback_url", Text),
    Column("delivery", String(16)),  # pending | delivered | failed (None: no callback)
    Column("delivery_attempts", Integer, nullable=False, default=0),
    Column("next_delivery_at", Double),
    Column("delivery_error", Text),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("submitted_at", Timestamp),
    Column("finished_at", Timestamp),
    Index("ix_batch_calls_status_provider_model", "status", "provider", "model"),
    Index("ix_batch_calls_batch_id", "batch_id"),
    Index("ix_batch_calls_job_id", "job_id"),
    Index("ix_batch_calls_delivery_next_delivery_at", "delivery", "next_delivery_at"),
)

batch_jobs = Table(
    "batch_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("provider", String(64), nullable=False),
    Column("model", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # submitting | submitted | ended | failed
    Column("provider_job_id", String(128)),
    Column("provider_status", String(32)),
    Column("items", Document, nullable=False),  # call ids
    Column("owner", String(96)),  # the worker submitting it
    Column("lease_until", Double),
    Column("polls", Integer, nullable=False, default=0),
    Column("next_poll_at", Double),
    Column("error", Text),
    Column("created_at", Timestamp, nullable=False),
    Column("submitted_at", Timestamp),
    Column("polled_at", Timestamp),
    Column("finished_at", Timestamp),
    Index("ix_batch_jobs_status_next_poll_at", "status", "next_poll_at"),
)

batch_files = Table(
    "batch_files",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("workload", String(64), nullable=False),
    Column("purpose", String(32), nullable=False),  # batch | batch_output
    Column("filename", String(255), nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("batch_id", String(64)),
    Column("created_at", Timestamp, nullable=False),
    Index("ix_batch_files_workload_created_at", "workload", "created_at"),
)

batches = Table(
    "batches",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("workload", String(64), nullable=False),
    Column("key_id", String(32)),
    Column("endpoint", String(64), nullable=False),
    Column("input_file_id", String(64), nullable=False),
    Column("completion_window", String(8), nullable=False),
    Column("metadata", Document),
    Column("status", String(16), nullable=False),
    Column("total", Integer, nullable=False),
    Column("output_file_id", String(64)),
    Column("error_file_id", String(64)),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("in_progress_at", Timestamp),
    Column("finalizing_at", Timestamp),
    Column("completed_at", Timestamp),
    Column("expired_at", Timestamp),
    Column("cancelling_at", Timestamp),
    Column("cancelled_at", Timestamp),
    Index("ix_batches_workload_created_at", "workload", "created_at"),
    Index("ix_batches_status", "status"),
)
