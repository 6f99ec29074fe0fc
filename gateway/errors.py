"""The gateway's error types and the one place that renders them in each API's shape.

    GatewayError                      status, type, code, param
    ├── BadRequest                    400 invalid_request_error
    │   ├── PayloadTooLarge           413
    │   ├── RequestTimeout            408 the client sent its request too slowly
    │   └── HeadersTooLarge           431
    ├── AuthenticationFailed          401
    ├── PermissionDenied              403
    ├── NotFound                      404
    │   └── ModelNotFound             404 model_not_found
    ├── ShuttingDown                  503 the call was cut by the shutdown grace period
    ├── LimitExceeded                 429 a workload's or key's own limit or budget
    ├── LimitsUnavailable             503 the limits' store (Redis) did not answer
    └── UpstreamError                 502 upstream_error (the provider failed us)
        ├── UpstreamUnavailable       502 could not connect
        ├── UpstreamTimeout           504
        │   └── FirstByteTimeout      504 no first byte within the model's first_byte_timeout
        ├── UpstreamPoolExhausted     503 no pooled connection came free within pool_timeout
        ├── RateLimited               429 passed through from the provider
        └── UpstreamStatus            the provider's own 4xx/5xx, passed through

Routes raise these; the API layer renders them with `openai_error`, `anthropic_error` or
`gemini_error`.
"""

from __future__ import annotations

from typing import Any

import orjson


class GatewayError(Exception):
    status = 500
    type = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}


class BadRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class PayloadTooLarge(BadRequest):
    status = 413
    code = "request_too_large"


class RequestTimeout(BadRequest):
    status = 408
    code = "request_timeout"


class HeadersTooLarge(BadRequest):
    status = 431
    code = "request_headers_too_large"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"


class NotFound(GatewayError):
    status = 404
    type = "not_found_error"


class ModelNotFound(NotFound):
    type = "invalid_request_error"
    code = "model_not_found"


class ShuttingDown(GatewayError):
    status = 503
    type = "server_error"
    code = "shutting_down"


class LimitExceeded(GatewayError):
    """The gateway's own limits refused the call (rpm, tpm, concurrency, a USD budget)."""

    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, limit: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.limit = limit


class LimitsUnavailable(GatewayError):
    status = 503
    type = "server_error"
    code = "limits_unavailable"


class UpstreamError(GatewayError):
    status = 502
    type = "upstream_error"


class UpstreamUnavailable(UpstreamError):
    code = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class FirstByteTimeout(UpstreamTimeout):
    code = "first_byte_timeout"


class UpstreamPoolExhausted(UpstreamError):
    status = 503
    type = "server_error"
    code = "upstream_pool_exhausted"


class RateLimited(UpstreamError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class UpstreamStatus(UpstreamError):
    """The provider answered with an error status; its status and type are kept."""

    def __init__(self, message: str, *, status: int, type: str, code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, status=status, code=code, param=param, headers=headers)
        self.type = type


_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    409: "invalid_request_error",
    413: "request_too_large",
    415: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def openai_error(err: GatewayError) -> dict[str, Any]:
    """`{"error": {message, type, param, code}}`."""
    return {"error": {"message": err.message, "type": err.type, "param": err.param,
                      "code": err.code}}


def anthropic_error(err: GatewayError) -> dict[str, Any]:
    """`{"type": "error", "error": {type, message}}`."""
    kind = _ANTHROPIC_TYPES.get(err.status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": err.message}}


def openai_error_bytes(err: GatewayError) -> bytes:
    return orjson.dumps(openai_error(err))


def anthropic_error_bytes(err: GatewayError) -> bytes:
    return orjson.dumps(anthropic_error(err))


def openai_error_event(err: GatewayError) -> bytes:
    """An error after a stream started: one `data:` event in OpenAI's shape."""
    return b"data: " + openai_error_bytes(err) + b"\n\n"


def anthropic_error_event(err: GatewayError) -> bytes:
    """An error after a stream started: an `error` event in Anthropic's shape."""
    return b"event: error\ndata: " + anthropic_error_bytes(err) + b"\n\n"


def anthropic_status(err: GatewayError) -> int:
    """The HTTP status an Anthropic client gets: an overload is Anthropic's own 529."""
    return 529 if err.type == "overloaded_error" else err.status


# Gemini reports a google.rpc status name beside the HTTP code.
_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def gemini_error(err: GatewayError) -> dict[str, Any]:
    """`{"error": {code, message, status}}` (google.rpc style)."""
    status = _GEMINI_STATUS.get(err.status, "INTERNAL" if err.status < 502 else "UNAVAILABLE")
    return {"error": {"code": err.status, "message": err.message, "status": status}}


def gemini_error_bytes(err: GatewayError) -> bytes:
    return orjson.dumps(gemini_error(err))


def gemini_error_event(err: GatewayError) -> bytes:
    """An error after a stream started: one `data:` event in Gemini's shape."""
    return b"data: " + gemini_error_bytes(err) + b"\n\n"
