"""OpenAI and any OpenAI-compatible server (vLLM, TGI, llama.cpp): chat, completions, embeddings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.config import ModelConfig
from gateway.providers import openai_batch
from gateway.providers.base import Provider, Route, UpstreamRequest, json_body
from gateway.providers.errors import stream_error
from gateway.providers.openai_chat import (
    OpenAIChatParser,
    chat_body,
    parse_completion,
    usage_counts,
)
from gateway.streaming.meter import Meter
from gateway.streaming.sse import SSEEvent
from gateway.translate.types import ChatRequest, ChatResponse

_PATHS: dict[str, str] = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
    "responses": "/responses",
}


class OpenAIProvider(Provider):
    kind = "openai"
    batch_client = openai_batch

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
        body["model"] = model.upstream_name
        strip_usage = False
        if stream and self.config.stream_usage and route != "responses":
            options = body.get("stream_options") or {}
            strip_usage = not options.get("include_usage", False)
            body["stream_options"] = {**options, "include_usage": True}
        headers = {
            "content-type": "application/json",
            "accept-encoding": "identity",
            "x-request-id": call_id,
            **self.config.headers,
        }
        if self._secret:
            headers["authorization"] = f"Bearer {self._secret}"
        return UpstreamRequest(
            url=self.config.base_url + _PATHS[route],
            headers=headers,
            body=json_body(body),
            strip_usage=strip_usage,
        )

    def stream_tracker(self, route: Route, meter: Meter, *, strip_usage: bool) -> OpenAIStream:
        return OpenAIStream(self, meter, strip_usage=strip_usage)

    def read_response(self, route: Route, body: dict[str, Any], meter: Meter) -> None:
        meter.set_usage(*usage_counts(body.get("usage")))
        for choice in body.get("choices") or ():
            meter.finish_reason = choice.get("finish_reason") or meter.finish_reason
            message = choice.get("message") or {}
            text = message.get("content") if message else choice.get("text")
            if text:
                meter.deliver(text)
            for call in message.get("tool_calls") or ():
                arguments = (call.get("function") or {}).get("arguments")
                if arguments:
                    meter.deliver(arguments)
        meter.done = True

    def build_chat_request(
        self, chat: ChatRequest, model: ModelConfig, *, call_id: str
    ) -> UpstreamRequest:
        # OpenAI's own API wants max_completion_tokens (its reasoning models refuse
        # max_tokens); compatible servers (vLLM, TGI, llama.cpp) know max_tokens best.
        official = self.config.base_url.startswith("https://api.openai.com")
        body = chat_body(
            chat,
            model.upstream_name,
            stream_usage=self.config.stream_usage,
            max_tokens_field="max_completion_tokens" if official else "max_tokens",
        )
        headers = self.base_headers(call_id)
        if self._secret:
            headers["authorization"] = f"Bearer {self._secret}"
        return UpstreamRequest(self.config.base_url + _PATHS["chat"], headers, json_body(body))

    def stream_parser(self) -> OpenAIChatParser:
        return OpenAIChatParser(self)

    def parse_response(self, body: dict[str, Any]) -> ChatResponse:
        return parse_completion(body)

    def credentials(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._secret}"} if self._secret else {}


class OpenAIStream:
    """Follows a same-protocol chat or completions stream: usage, delivered text, finish,
    errors. Kept free of event objects: this is the benchmarked hot path."""

    __slots__ = ("provider", "meter", "strip_usage")

    def __init__(self, provider: Provider, meter: Meter, *, strip_usage: bool) -> None:
        self.provider = provider
        self.meter = meter
        self.strip_usage = strip_usage

    def observe(self, event: SSEEvent) -> bool:
        data = event.data
        if data is None:
            return True
        if data == "[DONE]":
            self.meter.done = True
            return True
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return True
        if not isinstance(chunk, dict):
            return True
        error = chunk.get("error")
        if error:
            self.meter.error = stream_error(self.provider, chunk)
            return True
        choices = chunk.get("choices")
        if choices:
            self._observe_choices(choices)
        usage = chunk.get("usage")
        if usage:
            self.meter.set_usage(*usage_counts(usage))
            if self.strip_usage and not choices:
                return False
        return True

    def _observe_choices(self, choices: list[Any]) -> None:
        meter = self.meter
        for choice in choices:
            delta = choice.get("delta")
            if delta:
                content = delta.get("content") or delta.get("reasoning_content")
                if content:
                    meter.deliver(content)
                for call in delta.get("tool_calls") or ():
                    function = call.get("function") or {}
                    piece = (function.get("name") or "") + (function.get("arguments") or "")
                    if piece:
                        meter.deliver(piece)
            else:
                text = choice.get("text")
                if text:
                    meter.deliver(text)
            if choice.get("finish_reason"):
                meter.finish_reason = choice["finish_reason"]
