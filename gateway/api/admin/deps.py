"""Shared pieces of the admin routes: who is calling, the ledger, and its failures."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import SQLAlchemyError

from gateway.auth import Identity
from gateway.errors import BadRequest, GatewayError
from gateway.ledger.service import Ledger
from gateway.state import GatewayState


class LedgerUnavailable(GatewayError):
    status = 503
    type = "server_error"
    code = "ledger_unavailable"


def gateway_state(request: Request) -> GatewayState:
    return request.app.state.gateway


def admin(request: Request) -> Identity:
    """Only the admin key passes."""
    return gateway_state(request).auth.authenticate_admin(request.scope)


def caller(request: Request) -> Identity:
    """The admin key or any workload key."""
    return gateway_state(request).auth.authenticate(request.scope)


def ledger(request: Request) -> Ledger:
    sink = gateway_state(request).ledger
    if not isinstance(sink, Ledger):
        raise LedgerUnavailable("this gateway runs without a ledger database")
    return sink


AdminIdentity = Annotated[Identity, Depends(admin)]
CallerIdentity = Annotated[Identity, Depends(caller)]
LedgerDep = Annotated[Ledger, Depends(ledger)]


@contextlib.contextmanager
def database_errors() -> Iterator[None]:
    """A database that cannot answer becomes a 503, not an internal error."""
    try:
        yield
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        raise LedgerUnavailable(
            f"the ledger database is unavailable: {type(exc).__name__}"
        ) from exc


def parse_limit(value: str | None, default: int = 100, maximum: int = 1000) -> int:
    if value is None or value == "":
        return default
    try:
        limit = int(value)
    except ValueError:
        raise BadRequest(f"limit: expected an integer, got {value!r}", param="limit") from None
    if not 1 <= limit <= maximum:
        raise BadRequest(f"limit: must be between 1 and {maximum}", param="limit")
    return limit
