"""The provider interface: one adapter per vendor, each speaking its own wire format.

An adapter answers two kinds of calls:

- same protocol (the client speaks the vendor's API): `build_request` forwards the client's
  body, `stream_tracker` and `read_response` read the answer on the side for the meter while
  its bytes go to the client untouched;
- translated (the client speaks another API): `build_chat_request` builds the upstream call
  from a neutral `ChatRequest`, `stream_parser` turns the stream into neutral events and
  `parse_response` a whole answer into a `ChatResponse`.

`submit_batch`, `poll_batch` and `find_batch` are the batch lane's verbs (native provider Batch
APIs): a vendor names its batch module (`openai_batch`, `anthropic_batch`) in `batch_client`;
`credentials` is the header carrying the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import orjson

from gateway.config import ModelConfig, ProviderConfig
from gateway.errors import BadRequest
from gateway.providers.metering import EventTracker, StreamParser, record_response
from gateway.streaming.meter import Meter
from gateway.streaming.sse import SSEEvent
from gateway.translate.types import ChatRequest, ChatResponse

if TYPE_CHECKING:
    import aiohttp

    from gateway.providers.batch import BatchPoll

Route = Literal[
    "chat",
    "completions",
    "embeddings",
    "messages",
    "responses",
    "gemini",  # generateContent, stream or not
    "gemini_embed",  # embedContent
    "gemini_batch_embed",  # batchEmbedContents
]


def json_body(body: Any) -> bytes:
    """An upstream request body as JSON; what orjson cannot encode (nesting deeper than 254
    levels) came from the client, so it is the client's 400."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError as exc:
        raise BadRequest(
            f"the request body cannot be sent on: {exc} (it may nest at most 254 levels)"
        ) from None


@dataclass(slots=True)
class UpstreamRequest:
    url: str
    headers: dict[str, str]
    body: bytes
    strip_usage: bool = False  # the gateway added include_usage; hide it from the client


class StreamTracker(Protocol):
    """Follows a same-protocol stream event by event; says whether to forward each one."""

    def observe(self, event: SSEEvent) -> bool: ...


class Provider:
    """Base class of the vendor adapters; a new vendor is one module and one registry line."""

    kind: str = ""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.name = config.name
        self._secret = config.api_key.get_secret_value() if config.api_key else None
        self.in_flight = 0  # interactive calls running (kept per attempt by gateway.routing)

    # --- same protocol -------------------------------------------------------------------

    def build_request(
        self,
        route: Route,
        body: dict[str, Any],
        model: ModelConfig,
        *,
        stream: bool,
        call_id: str,
        client_headers: Mapping[str, str] | None = None,
    ) -> UpstreamRequest:
        """The client's own body, forwarded with the model renamed and the provider's key."""
        raise NotImplementedError

    def build_count_request(
        self,
        body: dict[str, Any],
        model: ModelConfig,
        *,
        call_id: str,
        client_headers: Mapping[str, str] | None = None,
    ) -> UpstreamRequest:
        """The vendor's own token-counting call for a body in its API (Anthropic
        `count_tokens`, Gemini `countTokens`); kinds without one count with the tokenizer."""
        raise NotImplementedError

    def stream_tracker(self, route: Route, meter: Meter, *, strip_usage: bool) -> StreamTracker:
        return EventTracker(self.stream_parser(), meter)

    def read_response(self, route: Route, body: dict[str, Any], meter: Meter) -> None:
        """Record usage and output from a complete (non-streaming) response."""
        record_response(meter, self.parse_response(body))

    # --- translated ----------------------------------------------------------------------

    def build_chat_request(
        self, chat: ChatRequest, model: ModelConfig, *, call_id: str
    ) -> UpstreamRequest:
        """The upstream call for a neutral request; raises BadRequest for what cannot map."""
        raise NotImplementedError

    def stream_parser(self) -> StreamParser:
        raise NotImplementedError

    def parse_response(self, body: dict[str, Any]) -> ChatResponse:
        raise NotImplementedError

    # --- batch lane ----------------------------------------------------------------------

    batch_client: Any = None  # the vendor's batch module (`openai_batch`, ...)

    async def submit_batch(
        self,
        session: aiohttp.ClientSession,
        requests: list[tuple[str, UpstreamRequest]],
        *,
        tag: str,
    ) -> str:
        """Submit (custom id, request) pairs, all to one endpoint, as one provider job; its id.

        `tag` (the gateway's job id) is attached where the vendor allows, for `find_batch`."""
        return await self._batch_client().submit_batch(self, session, requests, tag)

    async def poll_batch(self, session: aiohttp.ClientSession, job_id: str) -> BatchPoll:
        """The job's status, and once it has ended, every result it reported."""
        return await self._batch_client().poll_batch(self, session, job_id)

    async def find_batch(self, session: aiohttp.ClientSession, tag: str) -> str | None:
        """The id of the job submitted with `tag`, if the vendor can tell (else None)."""
        return await self._batch_client().find_batch(self, session, tag)

    def _batch_client(self) -> Any:
        if self.batch_client is None:
            raise NotImplementedError(f"{self.kind} has no batch API in this gateway")
        return self.batch_client

    def credentials(self) -> dict[str, str]:
        """The header(s) carrying the provider's key (empty without one)."""
        return {}

    # --- helpers -------------------------------------------------------------------------

    def base_headers(self, call_id: str) -> dict[str, str]:
        """Headers every upstream request carries (the key is added by each adapter)."""
        return {
            "content-type": "application/json",
            "accept-encoding": "identity",
            "x-request-id": call_id,
            **self.config.headers,
        }

    def endpoint(self, path: str) -> str:
        """`base_url` + `path`, tolerating a base URL that already ends in the version."""
        base = self.config.base_url
        version = path.split("/", 2)[1]
        if base.endswith("/" + version):
            base = base[: -len(version) - 1]
        return base + path

    def scrub(self, text: str) -> str:
        """Remove the provider's secret from text that may reach a client or a log."""
        if self._secret and self._secret in text:
            text = text.replace(self._secret, "[redacted]")
        return text
