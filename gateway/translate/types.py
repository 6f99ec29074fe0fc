"""The vendor-neutral shapes every translation passes through.

A client's request is decoded into a `ChatRequest`; a provider builds its upstream request
from it, parses its stream into `StreamEvent`s and its whole answer into a `ChatResponse`;
the client's encoder renders those in the client's protocol. N decoders and N encoders,
never N x N translators.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.errors import GatewayError

# Finish reasons in the neutral vocabulary (OpenAI's); tables in `translate.reasons`.
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


# --- the request ---------------------------------------------------------------------------


@dataclass(slots=True)
class TextPart:
    text: str


@dataclass(slots=True)
class ImagePart:
    """An image given inline (`data`, base64, with its media type) or by `url`."""

    param: str  # where the client put it, for a refusal that names the field
    media_type: str | None = None
    data: str | None = None
    url: str | None = None


@dataclass(slots=True)
class ToolCall:
    """A call the assistant made; `arguments` is JSON text."""

    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class ToolResult:
    """The answer to tool call `call_id`, given back in a user turn."""

    call_id: str
    content: list[TextPart | ImagePart]
    is_error: bool = False


Part = TextPart | ImagePart | ToolCall | ToolResult


@dataclass(slots=True)
class Message:
    role: Literal["user", "assistant"]
    parts: list[Part]


@dataclass(slots=True)
class Tool:
    name: str
    description: str | None
    parameters: dict[str, Any]  # JSON schema of the arguments object


@dataclass(slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None  # with mode "tool"


@dataclass(slots=True)
class ResponseFormat:
    type: Literal["json_object", "json_schema"]
    schema: dict[str, Any] | None = None


@dataclass(slots=True)
class ChatRequest:
    """A chat call with everything that can be translated; the rest was refused already.

    Optional features only some vendors have (`top_k`, penalties, `seed`, ...) stay here
    with the client's field name; a provider that cannot honour one refuses it by that name.
    """

    messages: list[Message]
    stream: bool = False
    system: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None  # OpenAI-kind targets only (refused for the others)

    def tool_name(self, call_id: str) -> str | None:
        """The function name of an earlier tool call (Gemini answers by name, not by id)."""
        for message in reversed(self.messages):
            for part in message.parts:
                if isinstance(part, ToolCall) and part.id == call_id:
                    return part.name
        return None


# --- the answer ----------------------------------------------------------------------------


@dataclass(slots=True)
class ChatResponse:
    """A whole answer: text and tool calls in order, why it stopped, and its usage."""

    parts: list[TextPart | ToolCall]
    finish_reason: FinishReason | None
    prompt_tokens: int | None = None  # all input, cached included
    completion_tokens: int | None = None
    cache_read_tokens: int | None = None  # of the prompt, read from the provider's cache
    cache_write_tokens: int | None = None  # of the prompt, written to it


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ReasoningDelta:
    """Thinking text: counted as delivered; only a same-protocol relay shows it to the client."""

    text: str


@dataclass(slots=True)
class ToolCallStart:
    index: int  # 0, 1, ... in the order the answer's tool calls began
    id: str
    name: str


@dataclass(slots=True)
class ToolCallDelta:
    index: int
    arguments: str  # a fragment of the JSON text; fragments concatenate


@dataclass(slots=True)
class Usage:
    """Token counts as far as known; None means not reported (yet). `prompt` is all input;
    `cache_read` and `cache_write` are the parts of it served from or written to the
    provider's prompt cache."""

    prompt: int | None
    completion: int | None
    cache_read: int | None = None
    cache_write: int | None = None


@dataclass(slots=True)
class Finish:
    reason: FinishReason


@dataclass(slots=True)
class StreamError:
    """An error the provider reported after HTTP 200: never a normal stop."""

    error: GatewayError


@dataclass(slots=True)
class StreamEnd:
    """The provider's end-of-stream signal (`[DONE]`, `message_stop`, EOF after a finish)."""


StreamEvent = (
    TextDelta
    | ReasoningDelta
    | ToolCallStart
    | ToolCallDelta
    | Usage
    | Finish
    | StreamError
    | StreamEnd
)
