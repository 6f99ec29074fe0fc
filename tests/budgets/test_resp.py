"""The limits' lean Redis client: replies read right whatever way the bytes are split, scripts
loaded when Redis does not know them, a lost connection replaced, a silent server timed out."""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.budgets.resp import LeanRedis, RedisError, Script, _Connection

scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.binary(max_size=40),
    st.none(),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20).map(
        lambda t: ("+", t)),
)
replies = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=12)


def encode(value: Any) -> bytes:
    if isinstance(value, tuple):
        return f"{value[0]}{value[1]}\r\n".encode()
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, bytes):
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if value is None:
        return b"$-1\r\n"
    return b"*%d\r\n" % len(value) + b"".join(encode(item) for item in value)


def expected(value: Any) -> Any:
    if isinstance(value, tuple):
        return value[1]
    if isinstance(value, list):
        return [expected(item) for item in value]
    return value


class _Transport:
    def write(self, data: bytes) -> None:
        return None

    def close(self) -> None:
        return None


@settings(max_examples=150, deadline=None)
@given(values=st.lists(replies, min_size=1, max_size=6), cuts=st.lists(st.integers(0, 400)))
def test_replies_whatever_the_split(values: list[Any], cuts: list[int]) -> None:
    async def feed() -> list[Any]:
        connection = _Connection()
        connection.connection_made(_Transport())  # type: ignore[arg-type]
        futures = [connection.send(("PING",)) for _ in values]
        stream = b"".join(encode(value) for value in values)
        points = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
        for start, end in zip(points, points[1:], strict=False):
            connection.data_received(stream[start:end])
        return [future.result() for future in futures]

    assert asyncio.run(feed()) == [expected(value) for value in values]


async def test_errors_scripts_and_a_lost_connection(redis_server: str) -> None:
    client = LeanRedis(redis_server)
    try:
        with pytest.raises(RedisError, match="unknown command"):
            await client.call("NOT-A-COMMAND")
        fresh = Script(f"return {{ARGV[1], '{uuid.uuid4().hex}'}}")  # never loaded before
        assert (await client.run(fresh, "x"))[0] == b"x"
        own_id = await client.call("CLIENT", "ID")
        killer = redis.Redis.from_url(redis_server)
        killer.execute_command("CLIENT", "KILL", "ID", own_id)
        killer.close()
        answers = []
        for _ in range(3):  # the first try may still go to the dead connection
            try:
                answers.append(await client.call("PING"))
                break
            except RedisError:
                await asyncio.sleep(0.05)
        assert answers == ["PONG"]
        assert await client.call("CLIENT", "ID") != own_id
    finally:
        await client.close()


async def test_a_silent_server_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = LeanRedis(f"redis://127.0.0.1:{port}/0", timeout=0.2)
        with pytest.raises(RedisError, match="did not answer"):
            await client.call("PING")
        await client.close()
