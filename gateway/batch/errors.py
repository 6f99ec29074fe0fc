"""The batch lane's errors (all `GatewayError`s, rendered in the caller's API shape).

GatewayError
├── BatchUnavailable   503  the lane's database cannot be reached (or there is none)
├── CallExpired        504  the provider's batch window closed before the call ran
├── CallCancelled      499  the call's batch was cancelled before it ran
└── OutcomeUnrecorded  500  the database would not take the call's outcome (or it could not
                            be read), or the call ran `batch_max_attempts` times without one
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy.exc import SQLAlchemyError

from gateway.errors import GatewayError, RateLimited, UpstreamTimeout, UpstreamUnavailable
from gateway.ledger.database import is_row_error


class BatchUnavailable(GatewayError):
    status = 503
    type = "server_error"
    code = "batch_unavailable"


class CallExpired(GatewayError):
    status = 504
    type = "server_error"
    code = "batch_expired"


class CallCancelled(GatewayError):
    status = 499
    type = "invalid_request_error"
    code = "batch_cancelled"


class OutcomeUnrecorded(GatewayError):
    status = 500
    type = "server_error"
    code = "outcome_unrecorded"


def transient(err: GatewayError) -> bool:
    """Worth trying again later: rate limits, overloads, timeouts, unreachable or 5xx."""
    if isinstance(err, RateLimited | UpstreamTimeout | UpstreamUnavailable):
        return True
    return err.status >= 500 or err.status in (408, 409)


def database_outage(exc: BaseException) -> bool:
    """The database could not be reached or did not answer (worth retrying the same write),
    as opposed to a row it refused or a failure that is not the database's."""
    if is_row_error(exc):
        return False
    return isinstance(exc, SQLAlchemyError | OSError | TimeoutError)


@contextlib.contextmanager
def unavailable_database() -> Iterator[None]:
    """A database that cannot answer: 503 (the caller may retry), not an internal error."""
    try:
        yield
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        raise BatchUnavailable(
            f"the batch lane's database is unavailable ({type(exc).__name__}); retry later"
        ) from exc
