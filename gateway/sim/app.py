"""The simulator as a plain ASGI callable: a route table over the API dialects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from gateway.sim import admin, batch_routes
from gateway.sim.anthropic_messages import MessagesDialect
from gateway.sim.counting import AnthropicCountDialect, GeminiCountDialect
from gateway.sim.embeddings import EmbeddingsDialect
from gateway.sim.errors import SimError, error_response
from gateway.sim.exchange import Exchange, Receive, Scope, Send
from gateway.sim.gemini import GeminiDialect
from gateway.sim.gemini_embed import GeminiEmbedDialect
from gateway.sim.generation import Dialect, serve
from gateway.sim.openai_chat import ChatDialect
from gateway.sim.openai_completions import CompletionsDialect
from gateway.sim.openai_responses import ResponsesDialect
from gateway.sim.options import SimOptions
from gateway.sim.state import SimState

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Handler = Callable[[SimState, Exchange], Awaitable[None]]

GEMINI_PREFIXES = ("/v1beta/models/", "/v1/models/")
GEMINI_METHODS: dict[str, Dialect] = {
    "generateContent": GeminiDialect(),
    "streamGenerateContent": GeminiDialect(),
    "countTokens": GeminiCountDialect(),
    "embedContent": GeminiEmbedDialect(),
    "batchEmbedContents": GeminiEmbedDialect(),
}
NOT_FOUND = SimError(404, "invalid_request_error", "not_found", "not_found_error", "NOT_FOUND", "")


def _generating(dialect: Dialect) -> Handler:
    async def handle(state: SimState, ex: Exchange) -> None:
        await serve(state, ex, dialect)

    return handle


class SimApp:
    """Routes requests to the simulator's handlers; everything else is a 404."""

    def __init__(self, options: SimOptions) -> None:
        self.state = SimState(options)
        models = admin.models_body(options.models)

        async def list_models(state: SimState, ex: Exchange) -> None:
            await ex.respond(200, models)

        self.routes: dict[tuple[str, str], Handler] = {
            ("POST", "/v1/chat/completions"): _generating(ChatDialect()),
            ("POST", "/v1/completions"): _generating(CompletionsDialect()),
            ("POST", "/v1/embeddings"): _generating(EmbeddingsDialect()),
            ("POST", "/v1/responses"): _generating(ResponsesDialect()),
            ("POST", "/v1/messages"): _generating(MessagesDialect()),
            ("POST", "/v1/messages/count_tokens"): _generating(AnthropicCountDialect()),
            ("GET", "/v1/models"): list_models,
            ("GET", "/_sim/stats"): admin.stats,
            ("GET", "/_sim/batches"): admin.batches,
            ("POST", "/_sim/reset"): admin.reset,
            ("GET", "/healthz"): admin.healthz,
        }
        self.gemini = {method: _generating(d) for method, d in GEMINI_METHODS.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        ex = Exchange(scope, receive, send)
        path = scope["path"]
        handler = self.routes.get((scope["method"], path)) or batch_routes.find(scope)
        if handler is None and scope["method"] == "POST" and path.startswith(GEMINI_PREFIXES):
            handler = self.gemini.get(path.rpartition(":")[2])
        if handler is None:
            missing = replace(NOT_FOUND, message=f"No route for {scope['method']} {path}")
            status, body, headers = error_response(_api_of(path), missing)
            await ex.respond(status, body, headers)
            return
        await handler(self.state, ex)


def _api_of(path: str) -> str:
    if path.startswith("/v1beta/"):
        return "gemini"
    return "anthropic" if path.startswith("/v1/messages") else "openai"


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_sim_app(options: SimOptions) -> ASGIApp:
    """A new simulator app with its own stats."""
    return SimApp(options)
