"""Client authentication: an API key (Bearer or x-api-key) names the call's workload."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from starlette.types import Scope

from gateway.config import Settings
from gateway.errors import AuthenticationFailed

DEFAULT_WORKLOAD = "default"
ADMIN_WORKLOAD = "admin"


@dataclass(frozen=True, slots=True)
class Identity:
    workload: str
    key_id: str | None = None  # the key's hash prefix: safe to log and store
    admin: bool = False


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


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
        self._stored: dict[str, str] = {}
        admin = settings.admin_key
        self._admin = hash_key(admin.get_secret_value()) if admin else None

    def replace_stored_keys(self, hashed: dict[str, str]) -> None:
        """Swap in the current {key hash: workload} map of keys created with the CLI or API."""
        self._stored = dict(hashed)

    @property
    def open(self) -> bool:
        """No workload key exists yet: calls need no key and count as workload `default`."""
        return not self._static and not self._stored

    def authenticate(self, scope: Scope) -> Identity:
        key = presented_key(scope)
        if self.open:
            return Identity(DEFAULT_WORKLOAD)
        if key is None:
            raise AuthenticationFailed(
                "You didn't provide an API key. Send it as `Authorization: Bearer KEY` "
                "or `x-api-key: KEY`."
            )
        digest = hash_key(key)
        workload = self._static.get(digest) or self._stored.get(digest)
        if workload is not None:
            return Identity(workload, key_id=digest[:16])
        if digest == self._admin:
            return Identity(ADMIN_WORKLOAD, key_id="admin", admin=True)
        raise AuthenticationFailed("Incorrect API key provided.")

    def authenticate_admin(self, scope: Scope) -> Identity:
        key = presented_key(scope)
        if self._admin is None:
            raise AuthenticationFailed("admin routes are disabled: set admin_key in the config")
        if key is None or hash_key(key) != self._admin:
            raise AuthenticationFailed("this route needs the admin key")
        return Identity(ADMIN_WORKLOAD, key_id="admin", admin=True)
