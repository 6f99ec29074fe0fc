"""OpenAI and any OpenAI-compatible server (vLLM, TGI, llama.cpp): chat, completions, embeddings."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.config import ModelConfig
from gateway.errors import UpstreamError
from gateway.providers.base import Provider, Route, UpstreamRequest
from gateway.streaming.meter import Meter
from gateway.streaming.sse import SSEEvent

_PATHS: dict[str, str] = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
}


class OpenAIProvider(Provider):
    kind = "openai"

    def build_request(
        self, route: Route, body: dict[str, Any], model: ModelConfig, *, stream: bool,
        call_id: str,
    ) -> UpstreamRequest:
        body["model"] = model.upstream_name
        strip_usage = False
        if stream and self.config.stream_usage:
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
            body=orjson.dumps(body),
            strip_usage=strip_usage,
        )

    def stream_tracker(self, route: Route, meter: Meter, *, strip_usage: bool) -> OpenAIStream:
        return OpenAIStream(meter, strip_usage=strip_usage, scrub=self.scrub)

    def read_response(self, route: Route, body: dict[str, Any], meter: Meter) -> None:
        usage = body.get("usage") or {}
        meter.set_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
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


class OpenAIStream:
    """Follows a chat or completions stream: usage, delivered text, finish, errors."""

    __slots__ = ("meter", "strip_usage", "scrub")

    def __init__(self, meter: Meter, *, strip_usage: bool, scrub: Any) -> None:
        self.meter = meter
        self.strip_usage = strip_usage
        self.scrub = scrub

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
            self.meter.error = _stream_error(error, self.scrub)
            return True
        choices = chunk.get("choices")
        if choices:
            self._observe_choices(choices)
        usage = chunk.get("usage")
        if usage:
            self.meter.set_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
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


def _stream_error(error: Any, scrub: Any) -> UpstreamError:
    if isinstance(error, dict):
        message = str(error.get("message") or "the provider reported an error")
        err = UpstreamError(scrub(message), code=error.get("code"))
        err.type = str(error.get("type") or "upstream_error")
        return err
    return UpstreamError(scrub(str(error)))
