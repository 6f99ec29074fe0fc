"""Callbacks: a finished deferred call's record POSTed to its `X-Gateway-Callback-Url`.

The body is the JSON record `/v1/gateway/requests/{id}` shows. It is signed so the receiver can
trust it: `X-Gateway-Signature: sha256=<hex>` is HMAC-SHA256, keyed by `callback_secret`, over
`<X-Gateway-Timestamp>.<body>` (the timestamp is Unix seconds; reject old ones to stop replays).
A delivery that fails (no 2xx, or no answer within 10 s) is retried after 1, 2, 4, ... seconds
(at most 10 minutes apart) until `callback_max_attempts`; the state is in the database, so a
restarted worker carries on where the last one stopped.

Before every delivery the URL is checked again against the allowlist of the moment, and a host
name is resolved and each of its addresses checked (`allowlist`); the POST then goes to the
address that was checked (the name kept for `Host` and TLS), so a second DNS answer cannot send
it elsewhere. Redirects are not followed. A refused delivery ends `failed` with the reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
from sqlalchemy import Row

from gateway import __version__
from gateway.batch.allowlist import DEFAULT_PORTS, Address, Allowlist, CallbackRefused, Target
from gateway.batch.store import CallStore

log = logging.getLogger("gateway.batch")

SIGNATURE_HEADER = "x-gateway-signature"
TIMESTAMP_HEADER = "x-gateway-timestamp"
TIMEOUT = 10.0
HOLD = 60.0  # a claimed delivery is not retried by another worker within this time
MAX_PAUSE = 600.0


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Gateway-Signature` value for `body` sent at `timestamp`."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    body: bytes,
    signature_header: str,
    timestamp_header: str,
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), signature_header)


def retry_pause(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones."""
    return min(2.0 ** (attempts - 1), MAX_PAUSE)


class Deliverer:
    def __init__(
        self,
        secret: str | None,
        max_attempts: int,
        store: CallStore,
        describe: Callable[[str], Awaitable[dict[str, Any] | None]],
        http: httpx.AsyncClient,
        allowlist: Allowlist,
    ) -> None:
        self.secret = secret
        self.max_attempts = max_attempts
        self.store = store
        self.describe = describe
        self.http = http
        self.allowlist = allowlist

    async def run(self) -> None:
        """Deliver every callback that is due (each claimed by one worker)."""
        claimed = [
            row
            for row in await self.store.due_deliveries()
            if await self.store.claim_delivery(row.id, row.next_delivery_at, HOLD)
        ]
        await asyncio.gather(*(self._deliver(row) for row in claimed))

    async def _deliver(self, row: Row[Any]) -> None:
        record = await self.describe(row.id)
        attempts = row.delivery_attempts + 1
        refused = False
        try:
            error = await self._post(row.callback_url, row.id, orjson.dumps(record))
        except CallbackRefused as exc:
            log.warning("batch: callback of call %s refused: %s", row.id, exc.reason)
            error, refused = f"refused: {exc.reason}", True
        if error is None:
            state, retry_in = "delivered", None
        elif refused or attempts >= self.max_attempts:
            state, retry_in = "failed", None
        else:
            state, retry_in = "pending", retry_pause(attempts)
        await self.store.record_delivery(row.id, state, attempts, retry_in, error)

    async def _post(self, url: str, call_id: str, body: bytes) -> str | None:
        """None once the receiver answered 2xx, else what went wrong (worth another try);
        raises CallbackRefused for what no retry can change."""
        if self.secret is None:
            raise CallbackRefused("callbacks are disabled: no callback_secret is configured")
        target = self.allowlist.check(url)
        try:
            addresses = await self.allowlist.resolve(target)
        except OSError as exc:
            return str(exc)[:300]
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": f"llm-inference-gateway/{__version__}",
            "x-gateway-request-id": call_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(self.secret, timestamp, body),
        }
        request_url, extensions = pinned(target, addresses[0], headers)
        try:
            response = await self.http.post(
                request_url, content=body, headers=headers, timeout=TIMEOUT, extensions=extensions
            )
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__
        if 200 <= response.status_code < 300:
            return None
        if 300 <= response.status_code < 400:
            raise CallbackRefused(
                f"the receiver answered HTTP {response.status_code}; redirects are not followed"
            )
        return f"the receiver answered HTTP {response.status_code}"


def pinned(
    target: Target, address: Address, headers: dict[str, str]
) -> tuple[httpx.URL, dict[str, Any]]:
    """The URL with its host name replaced by the checked address; `Host` (added to
    `headers`) and, for https, the TLS server name stay the name."""
    url = httpx.URL(target.url)
    if target.literal is not None:
        return url, {}
    default = DEFAULT_PORTS[target.scheme]
    headers["host"] = target.host if target.port == default else f"{target.host}:{target.port}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return url.copy_with(host=str(address)), extensions
