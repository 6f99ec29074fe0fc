"""Error envelopes in each API's shape, for injected failures and bad requests."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from gateway.sim.exchange import JSON_HEADERS

RETRY_HEADERS = (*JSON_HEADERS, (b"retry-after", b"1"))


@dataclass(frozen=True, slots=True)
class SimError:
    """A failure to report: HTTP status plus the per-API type names and message."""

    status: int
    openai_type: str
    openai_code: str | None
    anthropic_type: str
    gemini_status: str
    message: str
    echo: str | None = None  # the request's key, echoed in OpenAI's `param` and `code`


INJECTED: dict[str, SimError] = {
    "429": SimError(
        429, "requests", "rate_limit_exceeded", "rate_limit_error", "RESOURCE_EXHAUSTED",
        "Rate limit reached (simulated)",
    ),
    "500": SimError(
        500, "server_error", None, "api_error", "INTERNAL", "Internal server error (simulated)"
    ),
    "503": SimError(
        503, "server_error", "service_unavailable", "api_error", "UNAVAILABLE",
        "Service unavailable (simulated)",
    ),
    "overloaded": SimError(
        529, "server_error", "service_unavailable", "overloaded_error", "UNAVAILABLE",
        "Overloaded",
    ),
    "mid_stream": SimError(
        503, "server_error", "server_error", "overloaded_error", "UNAVAILABLE",
        "Overloaded (simulated mid-stream failure)",
    ),
}  # fmt: skip

# `error=odd_shape`: HTTP 200 with JSON that does not fit the API (a count where a list goes),
# whole or as the first event of a stream; a gateway must not record such a call completed.
ODD_WHOLE = {
    "openai": b'{"id":"odd","object":"chat.completion","choices":7,"data":7,"usage":7}',
    "anthropic": b'{"id":"odd","type":"message","role":"assistant","content":7,"usage":7}',
    "gemini": b'{"candidates":7,"usageMetadata":7}',
}
ODD_EVENT = {
    "openai": b'data: {"id":"odd","object":"chat.completion.chunk","choices":7}\n\n',
    "anthropic": b'event: message_start\ndata: {"type":"message_start","message":7}\n\n',
    "gemini": b'data: {"candidates":7}\n\n',
}

UNAUTHORIZED = SimError(
    401, "invalid_request_error", "invalid_api_key", "authentication_error", "UNAUTHENTICATED",
    "Invalid API key (simulated)",
)  # fmt: skip


def bad_request(message: str) -> SimError:
    """A 400 with `message`."""
    return SimError(
        400, "invalid_request_error", None, "invalid_request_error", "INVALID_ARGUMENT", message
    )


def status_for(api: str, error: SimError) -> int:
    """The HTTP status `error` gets on `api`; only Anthropic knows 529."""
    if error.status == 529 and api != "anthropic":
        return 503
    return error.status


def error_payload(api: str, error: SimError) -> dict[str, object]:
    """The error object `api` uses, as a dict."""
    if api == "anthropic":
        return {"type": "error", "error": {"type": error.anthropic_type, "message": error.message}}
    if api == "gemini":
        status = status_for(api, error)
        return {"error": {"code": status, "message": error.message, "status": error.gemini_status}}
    return {
        "error": {
            "message": error.message,
            "type": error.openai_type,
            "param": error.echo,
            "code": error.echo or error.openai_code,
        }
    }


def error_response(api: str, error: SimError) -> tuple[int, bytes, tuple[tuple[bytes, bytes], ...]]:
    """Status, body and headers of a whole error response."""
    headers = RETRY_HEADERS if error.status == 429 else JSON_HEADERS
    return status_for(api, error), orjson.dumps(error_payload(api, error)), headers
