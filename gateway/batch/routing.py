"""Which calls the batch lane takes, and where their results may be POSTed.

`X-Gateway-Mode` overrides the workload's `mode`: `batch` defers the call; `auto`, `stream` and
`sync` run it now, answered the way the request's own `stream` flag asks (the gateway never
changes the response format an SDK expects). `X-Gateway-Callback-Url` must pass the allowlist.
"""

from __future__ import annotations

from starlette.types import Scope

from gateway.api.asgi import header
from gateway.auth import Identity
from gateway.batch.allowlist import Allowlist, CallbackRefused
from gateway.config import Settings
from gateway.errors import BadRequest

MODE_HEADER = b"x-gateway-mode"
CALLBACK_HEADER = b"x-gateway-callback-url"
_DEFERS = {b"batch": True, b"auto": False, b"stream": False, b"sync": False}


class Router:
    """Decides per call; `defers` is on every request's path, so it allocates nothing."""

    def __init__(self, settings: Settings) -> None:
        self._batch_workloads = frozenset(w.name for w in settings.workloads if w.mode == "batch")
        self.allowlist = Allowlist(
            settings.callback_allowed_hosts, settings.callback_allow_private
        )

    def defers(self, identity: Identity, scope: Scope) -> bool:
        """Whether this call goes to the batch lane; a bad `X-Gateway-Mode` is a 400."""
        for name, value in scope["headers"]:
            if name == MODE_HEADER:
                return _mode(value)
        return identity.workload in self._batch_workloads

    def callback_url(self, scope: Scope) -> str | None:
        """The call's `X-Gateway-Callback-Url`, if any; a URL not allowed is a 400."""
        raw = header(scope, CALLBACK_HEADER)
        if raw is None:
            return None
        url = raw.decode("latin-1").strip()
        try:
            self.allowlist.check(url)
        except CallbackRefused as refused:
            raise BadRequest(
                f"X-Gateway-Callback-Url: {refused.reason}", param="X-Gateway-Callback-Url"
            ) from None
        return url


def _mode(value: bytes) -> bool:
    defers = _DEFERS.get(value)
    if defers is None:
        defers = _DEFERS.get(value.strip().lower())
    if defers is None:
        raise BadRequest(
            "X-Gateway-Mode: expected one of stream, sync, batch, auto",
            param="X-Gateway-Mode",
        )
    return defers
