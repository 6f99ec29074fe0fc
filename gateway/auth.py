"""Client authentication: an API key (Bearer or x-api-key) names the call's workload.

Open mode (calls need no key and count as workload `default`) is an explicit, sticky state:
only while no workload key was ever configured or stored and the gateway listens on loopback.
Until the stored keys have been read once, it fails closed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from starlette.types import Scope

from gateway.api.browser import BrowserGuard, is_loopback
from gateway.config import Settings
from gateway.errors import AuthenticationFailed, GatewayError

log = logging.getLogger("gateway.auth")

DEFAULT_WORKLOAD = "default"
ADMIN_WORKLOAD = "admin"
HOW_TO_CREATE = (
    "create one with `POST /v1/gateway/keys` (admin key) or `gateway keys create --workload NAME`"
)


class KeysUnavailable(GatewayError):
    """The stored keys were never read (ledger database down since start): fail closed."""

    status = 503
    type = "server_error"
    code = "keys_unavailable"


@dataclass(frozen=True, slots=True)
class Identity:
    workload: str
    key_id: str | None = None  # the key's hash prefix: safe to log and store
    admin: bool = False


ADMIN = Identity(ADMIN_WORKLOAD, key_id="admin", admin=True)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


_DIGESTS: dict[str, str] = {}  # presented key -> its digest: every call hashes its key
_DIGESTS_MAX = 4096


def digest_of(key: str) -> str:
    """`hash_key(key)`, remembered for the keys seen lately (cleared past a few thousand, so
    keys made up by a caller cannot grow it)."""
    digest = _DIGESTS.get(key)
    if digest is None:
        if len(_DIGESTS) >= _DIGESTS_MAX:
            _DIGESTS.clear()
        digest = _DIGESTS[key] = hash_key(key)
    return digest


def presented_key(scope: Scope) -> str | None:
    """The key from `Authorization: Bearer ...` or `x-api-key`, if any."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif name == b"x-api-key" and value:
            return value.decode("latin-1").strip()
    return None


class Authenticator:
    """Static keys from the config plus keys from the ledger's key table (added at runtime)."""

    def __init__(self, settings: Settings) -> None:
        self._static: dict[str, str] = {}
        for workload in settings.workloads:
            for key in workload.keys:
                self._static[hash_key(key.get_secret_value())] = workload.name
        empty = settings.empty_workload_keys()
        for field in empty:
            log.warning("%s is empty and ignored; it still counts as a configured key, so "
                        "the gateway does not run open", field)
        self._empty_fields = empty
        self._host = settings.host
        self._loopback = is_loopback(settings.host)
        # None: not decided until the stored keys are read; then True (open) or False for good.
        self._open: bool | None = None if self._loopback and not (self._static or empty) else False
        self._stored: dict[str, str] = {}
        self._stored_read = False
        admin, metrics = settings.admin_key, settings.metrics_token
        self._admin = hash_key(admin.get_secret_value()) if admin else None
        self._metrics = hash_key(metrics.get_secret_value()) if metrics else None
        self._browser = BrowserGuard(settings.allowed_hosts, settings.cors_allowed_origins)
        if metrics is None and not self._loopback:
            log.warning("/metrics is public on %s (it shows spend per workload): set "
                        "metrics_token (GATEWAY_METRICS_TOKEN) to require it", settings.host)

    @property
    def open(self) -> bool:
        """Calls need no key and count as workload `default`."""
        return self._open is True

    @property
    def may_open(self) -> bool:
        """Open mode is still possible: no key configured, loopback, no stored key seen."""
        return self._open is not False

    def load_stored_keys(self, hashed: dict[str, str], ever_stored: bool) -> None:
        """The current {key hash: workload} of stored keys, and whether any row (revoked ones
        included) exists; decides open mode on the first call and can only close it later."""
        first = not self._stored_read
        self._stored = dict(hashed)
        self._stored_read = True
        if self._open is not False and (hashed or ever_stored):
            if self._open:
                log.warning("open mode ended: an API key was created; every call now needs a "
                            "key (this lasts: revoking keys does not reopen the gateway)")
            self._open = False
        elif self._open is None:
            self._open = True
            log.warning(
                "open mode: no API key is configured or stored and the gateway listens on "
                "loopback only (%s), so calls without a key are accepted and count as workload "
                "'default'. To close it for good, add `keys` to a workload in the config or %s",
                self._host, HOW_TO_CREATE,
            )
        if first and not self._open and not self._static and not self._stored:
            if self._empty_fields:
                reason = f"{', '.join(self._empty_fields)} configured but empty"
            elif not self._loopback:
                reason = f"listening on {self._host}, not on loopback"
            else:
                reason = "keys were stored before, all revoked"
            log.warning("no API key is configured (open mode is off: %s): every call gets 401 "
                        "until one exists; %s", reason, HOW_TO_CREATE)

    def authenticate(self, scope: Scope) -> Identity:
        key = presented_key(scope)
        if self._open:
            if key is not None and hash_key(key) == self._admin:
                return ADMIN
            self._browser.check(scope)
            return Identity(DEFAULT_WORKLOAD)
        if key is None:
            if self._open is None:
                raise self._unavailable()
            raise AuthenticationFailed(
                "You didn't provide an API key. Send it as `Authorization: Bearer KEY` "
                "or `x-api-key: KEY`." + self._no_keys_hint()
            )
        digest = digest_of(key)
        workload = self._static.get(digest) or self._stored.get(digest)
        if workload is not None:
            return Identity(workload, key_id=digest[:16])
        if digest == self._admin:
            return ADMIN
        if not self._stored_read:
            raise self._unavailable()
        raise AuthenticationFailed("Incorrect API key provided." + self._no_keys_hint())

    def authenticate_admin(self, scope: Scope) -> Identity:
        key = presented_key(scope)
        if self._admin is None:
            raise AuthenticationFailed("admin routes are disabled: set admin_key in the config")
        if key is None or hash_key(key) != self._admin:
            raise AuthenticationFailed("this route needs the admin key")
        return ADMIN

    def authorize_metrics(self, scope: Scope) -> None:
        """`/metrics` needs the metrics token (or the admin key) once `metrics_token` is set."""
        if self._metrics is None:
            return
        key = presented_key(scope)
        if key is None or hash_key(key) not in (self._metrics, self._admin):
            raise AuthenticationFailed(
                "/metrics needs `Authorization: Bearer <metrics_token>`"
            )

    def _no_keys_hint(self) -> str:
        if self._static or self._stored:
            return ""
        return f" This gateway has no API key yet: {HOW_TO_CREATE}."

    @staticmethod
    def _unavailable() -> KeysUnavailable:
        return KeysUnavailable(
            "the gateway cannot read its API keys yet (ledger database unavailable); "
            "retry shortly", headers={"retry-after": "5"},
        )
