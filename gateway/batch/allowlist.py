"""Where callbacks may go: `callback_allowed_hosts`, their ports, and no private addresses.

An entry is `host`, `*.domain`, an IP literal (`10.0.0.5`, `[fd00::5]`), each optionally with
`:port`. Without a port it allows only the scheme's default port (443 for https, 80 for http).
Private, loopback, link-local, multicast, reserved and unspecified addresses are refused (for
an IP literal when the call is accepted, for a name at delivery, once resolved) unless the entry
is that IP literal itself or `callback_allow_private` is on. The same check runs when the call
is accepted and again before every delivery, against the allowlist of the moment.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"http": 80, "https": 443}


class CallbackRefused(Exception):
    """A callback URL the allowlist does not allow; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Entry:
    host: str  # a lower-case name, `*.domain`, or an IP literal's text
    port: int | None
    literal: Address | None

    def allows(self, host: str, literal: Address | None, port: int, scheme: str) -> bool:
        if port != (self.port or DEFAULT_PORTS[scheme]):
            return False
        if self.literal is not None or literal is not None:
            return self.literal == literal
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])
        return host == self.host


@dataclass(frozen=True, slots=True)
class Target:
    """A callback URL that passed the allowlist, taken apart for the delivery."""

    url: str
    scheme: str
    host: str  # without brackets
    port: int
    literal: Address | None  # the host, if it is an IP literal
    entry: Entry  # the entry that allowed it


class Allowlist:
    def __init__(self, hosts: list[str], allow_private: bool = False) -> None:
        self.entries = [parse_entry(host) for host in hosts]
        self.allow_private = allow_private

    def check(self, url: str) -> Target:
        """The URL's parts if an entry allows it (private literals refused); else raise."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise CallbackRefused(f"{url!r} is not a valid URL") from None
        host = (parts.hostname or "").lower()
        if parts.scheme not in DEFAULT_PORTS or not host:
            raise CallbackRefused(f"expected an http(s) URL, got {url!r}")
        if parts.username is not None or parts.password is not None:
            raise CallbackRefused("a callback URL must not carry credentials")
        port = port or DEFAULT_PORTS[parts.scheme]
        literal = _literal(host)
        for entry in self.entries:
            if entry.allows(host, literal, port, parts.scheme):
                target = Target(url, parts.scheme, host, port, literal, entry)
                if literal is not None:
                    self.check_address(target, literal)
                return target
        raise CallbackRefused(
            f"host {host!r} port {port} is not in the gateway's callback_allowed_hosts"
        )

    def check_address(self, target: Target, address: Address) -> None:
        """Refuse a private address, unless its own literal entry or the setting allows it."""
        if self.allow_private or not private(address) or target.entry.literal == address:
            return
        raise CallbackRefused(
            f"{target.host!r} is a private address ({address}); name it in "
            "callback_allowed_hosts or set callback_allow_private"
        )

    async def resolve(self, target: Target) -> list[Address]:
        """The addresses to deliver to: every one the name resolves to must be allowed."""
        if target.literal is not None:
            return [target.literal]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise OSError(f"could not resolve {target.host!r}: {exc}") from exc
        addresses = list(dict.fromkeys(_literal(str(info[4][0])) for info in infos))
        found = [address for address in addresses if address is not None]
        if not found:
            raise OSError(f"{target.host!r} resolved to no address")
        for address in found:
            self.check_address(target, address)
        return found


def parse_entry(entry: str) -> Entry:
    """`host`, `host:port`, `*.domain[:port]`, `1.2.3.4[:port]` or `[v6][:port]`."""
    entry = entry.strip().lower()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
        if rest and port is None:
            raise ValueError(f"{entry!r} is not `[address]` or `[address]:port`")
    else:
        host, colon, port_text = entry.rpartition(":")
        host, port = (host, port_text) if colon else (entry, None)
    number = None
    if port is not None:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{entry!r}: the port must be 1-65535")
        number = int(port)
    literal = _literal(host)
    if entry.startswith("[") and literal is None:
        raise ValueError(f"{entry!r}: expected an IPv6 address in brackets")
    return Entry(str(literal) if literal is not None else host, number, literal)


def private(address: Address) -> bool:
    """Not a public unicast address: private, loopback, link-local, multicast, reserved or
    unspecified (an IPv4-mapped IPv6 address is judged by its IPv4 address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
