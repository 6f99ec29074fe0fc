"""Stored API keys: hashed at rest, shown once, revoked by id or prefix, loaded by the gateway."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from gateway.auth import AuthenticationFailed, Authenticator, KeysUnavailable, hash_key
from gateway.errors import BadRequest
from gateway.ledger.database import Database
from gateway.ledger.keyring import KeySync
from gateway.ledger.keys import AmbiguousKey, KeyNotFound, KeyStore
from gateway.ledger.models import api_keys, workloads
from tests.ledger.helpers import settings
from tests.servers import free_port


def scope(key: str | None) -> dict:
    headers = [(b"authorization", f"Bearer {key}".encode())] if key else []
    return {"type": "http", "headers": headers}


@pytest.fixture
async def store(db_url: str):
    database = Database(settings(db_url, workloads=[]))
    await database.ensure_ready()
    yield KeyStore(database)
    await database.close()


async def test_a_key_is_stored_only_as_its_hash(store: KeyStore) -> None:
    new = await store.create("team-a")
    assert new.key.startswith("gw-") and len(new.key) > 40
    assert new.prefix == new.key[:10]
    async with store.database.engine.connect() as conn:
        row = (await conn.execute(select(api_keys))).one()
        workload = (await conn.execute(select(workloads.c.name))).scalar_one()
    assert row.key_hash == hash_key(new.key)
    assert new.key not in [str(value) for value in row]
    assert workload == "team-a"  # a workload not in the config is created with defaults
    listed = await store.list()
    assert listed == [
        {
            "id": new.id,
            "object": "gateway.key",
            "workload": "team-a",
            "prefix": new.prefix + "...",
            "created_at": listed[0]["created_at"],
            "revoked_at": None,
            "limits": None,
        }
    ]
    assert "key" not in listed[0]


async def test_revoke_by_id_prefix_or_key(store: KeyStore) -> None:
    one, two, three = [await store.create("team-a") for _ in range(3)]
    assert (await store.revoke(one.id))["revoked_at"] is not None
    assert (await store.revoke(two.prefix + "..."))["id"] == two.id
    assert (await store.revoke(three.key))["id"] == three.id
    assert await store.active_hashes() == {}
    again = await store.revoke(one.id)  # revoking twice keeps the first time
    assert again["revoked_at"] == (await store.list())[0]["revoked_at"]
    assert len(await store.list(include_revoked=False)) == 0


async def test_revoke_refuses_unknown_or_ambiguous_references(store: KeyStore) -> None:
    first = await store.create("team-a")
    second = await store.create("team-b")
    with pytest.raises(KeyNotFound):
        await store.revoke("key_doesnotexist")
    with pytest.raises(KeyNotFound):
        await store.revoke("gw")  # too short to mean anything
    async with store.database.engine.begin() as conn:  # two keys that happen to look alike
        await conn.execute(update(api_keys).values(prefix="gw-lookalike"[:10]))
    with pytest.raises(AmbiguousKey, match="matches several keys"):
        await store.revoke("gw-lookal")
    assert set((await store.active_hashes()).values()) == {"team-a", "team-b"}
    assert first.id != second.id


async def test_workload_names_are_checked(store: KeyStore) -> None:
    for bad in ("", "has space", "x" * 65, "semi;colon"):
        with pytest.raises(BadRequest):
            await store.create(bad)


async def test_key_sync_loads_and_drops_keys(store: KeyStore, db_url: str) -> None:
    auth = Authenticator(settings(db_url, workloads=[{"name": "static", "keys": ["static-key"]}]))
    sync = KeySync(store, auth, interval=0.05)
    new = await store.create("team-a")
    await sync.refresh()
    assert auth.authenticate(scope(new.key)).workload == "team-a"
    assert auth.authenticate(scope("static-key")).workload == "static"
    await store.revoke(new.id)
    await sync.refresh()
    with pytest.raises(AuthenticationFailed):
        auth.authenticate(scope(new.key))


async def test_key_sync_keeps_the_last_keys_when_the_database_is_down(
    store: KeyStore, db_url: str
) -> None:
    auth = Authenticator(settings(db_url, workloads=[]))
    new = await store.create("team-a")
    sync = KeySync(store, auth, interval=0.05)
    await sync.refresh()
    await store.database.engine.dispose()
    broken = KeyStore(Database(settings(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x")))
    sync.store = broken
    await sync.refresh()
    assert auth.authenticate(scope(new.key)).workload == "team-a"


async def test_any_stored_counts_revoked_keys(store: KeyStore) -> None:
    assert not await store.any_stored()
    new = await store.create("team-a")
    await store.revoke(new.id)
    assert await store.active_hashes() == {}
    assert await store.any_stored()


async def test_key_sync_fails_closed_until_the_first_read(store: KeyStore, db_url: str) -> None:
    auth = Authenticator(settings(db_url, workloads=[]))
    new = await store.create("team-a")
    await store.revoke(new.id)
    closed_port = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/gone"
    sync = KeySync(KeyStore(Database(settings(closed_port))), auth)
    await sync.refresh()
    with pytest.raises(KeysUnavailable):
        auth.authenticate(scope(None))
    sync.store = store
    await sync.refresh()
    assert not auth.open and not auth.may_open  # a revoked row is enough to stay closed
    with pytest.raises(AuthenticationFailed):
        auth.authenticate(scope(None))
