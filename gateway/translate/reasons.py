"""Every finish/stop reason mapping, in one place (the neutral vocabulary is OpenAI's)."""

from __future__ import annotations

from gateway.translate.types import FinishReason

FROM_OPENAI: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}

FROM_ANTHROPIC: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

TO_ANTHROPIC: dict[FinishReason, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}

# Gemini says STOP after a function call too: the parsers turn that into "tool_calls".
FROM_GEMINI: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}


TO_GEMINI: dict[FinishReason, str] = {
    "stop": "STOP",
    "length": "MAX_TOKENS",
    "tool_calls": "STOP",  # Gemini ends a turn that called functions with STOP
    "content_filter": "SAFETY",
}


def from_openai(reason: str) -> FinishReason:
    return FROM_OPENAI.get(reason, "stop")


def from_anthropic(reason: str) -> FinishReason:
    return FROM_ANTHROPIC.get(reason, "stop")


def from_gemini(reason: str, called_tools: bool) -> FinishReason:
    """Unknown reasons (OTHER, MALFORMED_FUNCTION_CALL, ...) end the turn as a plain stop."""
    if called_tools and reason == "STOP":
        return "tool_calls"
    return FROM_GEMINI.get(reason, "stop")


def to_anthropic(reason: FinishReason | None) -> str:
    return TO_ANTHROPIC.get(reason, "end_turn") if reason else "end_turn"


def to_gemini(reason: FinishReason | None) -> str:
    return TO_GEMINI.get(reason, "STOP") if reason else "STOP"
