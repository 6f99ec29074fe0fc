"""Stored API keys: created once (the key is shown then and never again), listed, revoked."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from gateway.auth import hash_key
from gateway.config import Limits
from gateway.errors import BadRequest, NotFound
from gateway.ids import new_id
from gateway.ledger.database import Database, as_utc, insert_for, now
from gateway.ledger.models import api_keys, workloads

KEY_PREFIX = "gw-"
LimitedKeys = list[dict[str, Any]]
SHOWN_CHARS = 10  # "gw-" and 7 characters: enough to tell keys apart, useless to an attacker
_WORKLOAD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class KeyNotFound(NotFound):
    code = "key_not_found"


class AmbiguousKey(BadRequest):
    code = "ambiguous_key"


@dataclass(frozen=True, slots=True)
class NewKey:
    id: str
    workload: str
    key: str  # the secret: returned once, stored only as its sha256
    prefix: str
    created_at: datetime
    limits: dict[str, Any] | None = None


def display_prefix(prefix: str) -> str:
    return prefix + "..."


def shown_limits(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """A key's stored limits as the API shows them: numbers, the unset ones left out."""
    if not stored:
        return None
    limits = Limits.model_validate(stored)
    return {
        name: float(value) if name.startswith("usd") else value
        for name, value in limits.model_dump().items()
        if value is not None
    }


def stored_limits(limits: Limits | None) -> dict[str, Any] | None:
    """Limits as the key table keeps them (amounts as decimal text); None for no limits."""
    if limits is None or not limits.any:
        return None
    return limits.model_dump(mode="json", exclude_none=True)


def key_record(row: Any) -> dict[str, Any]:
    """A stored key as the API and CLI show it (never the secret)."""
    return {
        "id": row.id,
        "object": "gateway.key",
        "workload": row.workload,
        "prefix": display_prefix(row.prefix),
        "created_at": as_utc(row.created_at),
        "revoked_at": as_utc(row.revoked_at),
        "limits": shown_limits(row.limits),
    }


class KeyStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def create(self, workload: str, limits: Limits | None = None) -> NewKey:
        """A new key for `workload` (any valid name; one not in the config gets defaults),
        with limits of its own if given."""
        if not _WORKLOAD_NAME.match(workload or ""):
            raise BadRequest(
                "workload must be 1-64 letters, digits, '.', '_' or '-'", param="workload"
            )
        await self.database.ensure_ready()
        key = KEY_PREFIX + secrets.token_urlsafe(30)
        new = NewKey(
            new_id("key_"), workload, key, key[:SHOWN_CHARS], now(), stored_limits(limits)
        )
        engine = self.database.engine
        upsert = insert_for(engine, workloads).on_conflict_do_nothing(index_elements=["name"])
        async with engine.begin() as conn:
            await conn.execute(
                upsert,
                [
                    {
                        "name": workload,
                        "mode": "auto",
                        "on_cancel": "abort",
                        "created_at": new.created_at,
                        "updated_at": new.created_at,
                    }
                ],
            )
            await conn.execute(
                api_keys.insert(),
                [
                    {
                        "id": new.id,
                        "workload": workload,
                        "key_hash": hash_key(key),
                        "prefix": new.prefix,
                        "created_at": new.created_at,
                        "revoked_at": None,
                        "limits": new.limits,
                    }
                ],
            )
        return new

    async def list(self, include_revoked: bool = True) -> list[dict[str, Any]]:
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        async with self.database.engine.connect() as conn:
            return [key_record(row) for row in await conn.execute(query)]

    async def revoke(self, ref: str) -> dict[str, Any]:
        """Revoke by id, by the shown prefix (`gw-abc1234...`) or by the key itself."""
        ref = (ref or "").strip().removesuffix("...")
        columns = api_keys.c
        if len(ref) < 6:
            raise KeyNotFound(
                f"no key {ref!r}: give the key's id or at least 6 characters of its prefix"
            )
        match = (columns.id == ref) | (columns.key_hash == hash_key(ref))
        if ref.startswith(KEY_PREFIX):
            match = match | columns.prefix.startswith(ref[:SHOWN_CHARS], autoescape=True)
        async with self.database.engine.begin() as conn:
            found = (await conn.execute(select(api_keys).where(match))).all()
            if not found:
                raise KeyNotFound(f"no key {ref!r}")
            if len(found) > 1:
                ids = ", ".join(row.id for row in found)
                raise AmbiguousKey(f"{ref!r} matches several keys ({ids}): give the id")
            row = found[0]
            if row.revoked_at is None:
                await conn.execute(
                    update(api_keys).where(columns.id == row.id).values(revoked_at=now())
                )
            row = (await conn.execute(select(api_keys).where(columns.id == row.id))).one()
        return key_record(row)

    async def active_hashes(self) -> dict[str, str]:
        """{sha256 of key: workload} of every key not revoked."""
        query = select(api_keys.c.key_hash, api_keys.c.workload).where(
            api_keys.c.revoked_at.is_(None)
        )
        async with self.database.engine.connect() as conn:
            return {row.key_hash: row.workload for row in await conn.execute(query)}

    async def active_limits(self) -> LimitedKeys:
        """The keys in force that have limits of their own: key id (hash prefix), workload,
        id, prefix and limits."""
        c = api_keys.c
        query = select(c.key_hash, c.workload, c.id, c.prefix, c.limits).where(
            c.revoked_at.is_(None), c.limits.is_not(None)
        )
        async with self.database.engine.connect() as conn:
            return [
                {"key_id": row.key_hash[:16], "workload": row.workload, "id": row.id,
                 "prefix": display_prefix(row.prefix), "limits": row.limits}
                for row in await conn.execute(query)
            ]

    async def any_stored(self) -> bool:
        """Whether any key was ever stored (revoked ones count): such a gateway never runs open."""
        async with self.database.engine.connect() as conn:
            return (await conn.execute(select(api_keys.c.id).limit(1))).first() is not None
