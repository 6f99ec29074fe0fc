"""Prompt tokens counted from a request body, for calls whose provider sent no usage."""

from __future__ import annotations

from typing import Any

import orjson

from gateway import tokens
from gateway.content import MAX_NESTING, texts

# OpenAI's published estimate for chat: each message is wrapped in 3 tokens, a `name` adds 1,
# and every reply is primed with 3 more.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3


def prompt_tokens(body: dict[str, Any] | None, model: str) -> int:
    """Tokens of a chat (`messages`), completions (`prompt`), embeddings (`input`) or Gemini
    (`contents`, `requests[].content`) body."""
    if not body:
        return 0
    total = 0
    messages = body.get("messages")
    if isinstance(messages, list):
        total += _chat_tokens(messages, model)
    for key in ("prompt", "input"):
        if key in body:
            total += _text_or_token_ids(body[key], model)
    for key in ("system", "instructions"):  # Anthropic Messages, Responses API
        if body.get(key):
            total += sum(tokens.count(text, model) for text in texts(body[key]))
    if "contents" in body or "requests" in body or "content" in body:
        total += _gemini_tokens(body, model)
    tools = body.get("tools") or body.get("functions")
    if tools:
        total += _json_tokens(tools, model)
    return total


def _json_tokens(value: Any, model: str) -> int:
    """Tokens of `value` as JSON text; none for what cannot be encoded (nested too deep)."""
    try:
        return tokens.count(orjson.dumps(value).decode(), model)
    except orjson.JSONEncodeError:
        return 0


def _chat_tokens(messages: list[Any], model: str) -> int:
    total = REPLY_PRIMING
    for message in messages:
        if not isinstance(message, dict):
            continue
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if key == "name" and isinstance(value, str):
                total += TOKENS_PER_NAME + tokens.count(value, model)
            elif key == "tool_calls" and isinstance(value, list):
                total += _json_tokens(value, model)
            elif key in ("role", "content"):
                total += sum(tokens.count(text, model) for text in texts(value))
    return total


def _text_or_token_ids(value: Any, model: str, depth: int = 0) -> int:
    """A string, a list of strings, a list of token ids, or a list of token-id lists (or of
    Responses API input items)."""
    if isinstance(value, str):
        return tokens.count(value, model)
    if isinstance(value, dict):  # a Responses API input item
        pieces = [value.get("content"), value.get("arguments"), value.get("output")]
        return sum(tokens.count(text, model) for piece in pieces for text in texts(piece))
    if isinstance(value, list) and depth < MAX_NESTING:
        if all(isinstance(item, int) for item in value):
            return len(value)
        return sum(_text_or_token_ids(item, model, depth + 1) for item in value)
    return 0


def _gemini_tokens(body: dict[str, Any], model: str) -> int:
    """The text parts of a Gemini body's system instruction and contents."""
    contents = [body.get("systemInstruction"), body.get("content"), *(body.get("contents") or ())]
    contents += [r.get("content") for r in body.get("requests") or () if isinstance(r, dict)]
    return sum(
        tokens.count(text, model)
        for content in contents
        if isinstance(content, dict)
        for text in texts(content.get("parts"))
    )
