"""The one place that turns an upstream failure into a gateway error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import orjson

from gateway.errors import (
    GatewayError,
    RateLimited,
    UpstreamError,
    UpstreamStatus,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.http1 import ConnectError, ResponseError
from gateway.providers.base import Provider


@contextmanager
def upstream_failures(provider: Provider) -> Iterator[None]:
    """Map the clients' (`gateway.http1`, aiohttp) and timeout errors at the I/O boundary to
    the most specific gateway error."""
    try:
        yield
    except GatewayError:
        raise
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise UpstreamTimeout(f"provider {provider.name!r} did not answer in time") from exc
    except (ConnectError, aiohttp.ClientConnectorError) as exc:
        raise UpstreamUnavailable(f"could not connect to provider {provider.name!r}") from exc
    except ResponseError as exc:
        raise UpstreamError(f"provider {provider.name!r}: {exc}") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise UpstreamError(
            f"provider {provider.name!r} closed the connection unexpectedly"
        ) from exc


def error_from_response(provider: Provider, status: int, body: bytes, headers: Any) -> GatewayError:
    """An error status from the provider, passed through in a vendor-neutral form; every field
    kept is scrubbed of the provider's key (an upstream may echo it in any of them)."""
    message, kind, code, param = (_scrubbed(provider, v) for v in _parse_error_body(body))
    message = message or f"provider {provider.name!r} answered HTTP {status}"
    if status in (401, 403):
        return UpstreamError(
            f"provider {provider.name!r} rejected the gateway's credentials (HTTP {status})",
            code="upstream_auth_failed",
        )
    if status == 429:
        retry_after = _scrubbed(provider, headers.get("retry-after") if headers else None)
        extra = {"retry-after": retry_after} if retry_after else None
        return RateLimited(message, headers=extra)
    if status == 529:
        return UpstreamStatus(message, status=503, type="overloaded_error", code=code)
    if status < 400 or status > 599:
        status = 502
    default = "invalid_request_error" if status < 500 else "upstream_error"
    return UpstreamStatus(message, status=status, type=kind or default, code=code, param=param)


def stream_error(provider: Provider, payload: Any) -> UpstreamError:
    """An error event a provider sent after HTTP 200, from any vendor's error shape.

    OpenAI `{"error": {message, type, code}}`, Anthropic `{"type": "error", "error": {type,
    message}}`, Gemini `{"error": {code, message, status}}`. The status is what the call is
    recorded with (the client already has its 200); an overload is a 503 like before a stream.
    """
    error = payload.get("error") if isinstance(payload, dict) else payload
    if not isinstance(error, dict):
        text = str(error) if error else "the provider reported an error"
        return UpstreamError(provider.scrub(text))
    message = provider.scrub(str(error.get("message") or "the provider reported an error"))
    kind = _scrubbed(provider, _str(error.get("type"))) or _GEMINI_TYPES.get(
        str(error.get("status"))
    )
    status = _STREAM_STATUS.get(kind or "", 502)
    return UpstreamStatus(
        message,
        status=status,
        type=kind or "upstream_error",
        code=_scrubbed(provider, _str(error.get("code"))),
        param=_scrubbed(provider, _str(error.get("param"))),
    )


# Gemini reports a google.rpc status name; the gateway's errors speak OpenAI/Anthropic types.
_GEMINI_TYPES = {
    "INVALID_ARGUMENT": "invalid_request_error",
    "FAILED_PRECONDITION": "invalid_request_error",
    "OUT_OF_RANGE": "invalid_request_error",
    "UNAUTHENTICATED": "authentication_error",
    "PERMISSION_DENIED": "permission_error",
    "NOT_FOUND": "not_found_error",
    "RESOURCE_EXHAUSTED": "rate_limit_error",
    "UNAVAILABLE": "overloaded_error",
    "INTERNAL": "api_error",
    "DEADLINE_EXCEEDED": "timeout_error",
}
_STREAM_STATUS = {"overloaded_error": 503, "rate_limit_error": 429, "timeout_error": 504}


def _parse_error_body(body: bytes) -> tuple[str | None, str | None, str | None, str | None]:
    """(message, type, code, param) from an OpenAI, Anthropic or Gemini error body."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body[:500].decode("utf-8", "replace").strip()
        return (text or None), None, None, None
    if not isinstance(document, dict):
        return None, None, None, None
    error = document.get("error")
    if isinstance(error, str):
        return error, None, None, None
    if not isinstance(error, dict):
        return None, None, None, None
    code = error.get("code")
    status = error.get("status")
    if status is not None and error.get("type") is None:  # Gemini: code is the HTTP status
        return _str(error.get("message")), _GEMINI_TYPES.get(str(status)), None, None
    return (
        _str(error.get("message")),
        _str(error.get("type")),
        None if code is None else str(code),
        _str(error.get("param")),
    )


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _scrubbed(provider: Provider, value: str | None) -> str | None:
    return None if value is None else provider.scrub(value)
