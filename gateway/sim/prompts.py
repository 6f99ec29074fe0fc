"""Reading request text: the last user message (for directives) and a word count (for usage)."""

from __future__ import annotations

from typing import Any

from gateway.content import texts


def count_words(content: Any) -> int:
    """Whitespace-separated words across all texts of `content`."""
    return sum(len(text.split()) for text in texts(content))


def last_text(messages: Any, content_key: str, user_roles: tuple[Any, ...]) -> str:
    """The text of the last message whose role is one of `user_roles`."""
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") in user_roles:
            return "\n".join(texts(message.get(content_key)))
    return ""


def chat_prompt(messages: Any) -> tuple[str, int]:
    """Last user text and word count of OpenAI chat messages (system messages included)."""
    words = 0
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                words += count_words(message.get("content"))
    return last_text(messages, "content", ("user",)), words


def completion_prompt(prompt: Any) -> tuple[str, int] | None:
    """Text and word count of a completions `prompt` (a string, strings, or token arrays);
    None for anything else."""
    if isinstance(prompt, str):
        return prompt, len(prompt.split())
    if not isinstance(prompt, list) or not prompt:
        return None
    if all(_token(item) for item in prompt):
        return "", len(prompt)
    words = 0
    for item in prompt:
        if isinstance(item, str):
            words += len(item.split())
        elif isinstance(item, list) and all(_token(t) for t in item):
            words += len(item)
        else:
            return None
    last = prompt[-1]
    return (last if isinstance(last, str) else ""), words


def _token(item: Any) -> bool:
    return isinstance(item, int) and not isinstance(item, bool)


def anthropic_prompt(system: Any, messages: Any) -> tuple[str, int]:
    """Last user text and word count of an Anthropic Messages request."""
    text, words = chat_prompt(messages)
    return text, words + count_words(system)


def gemini_prompt(system_instruction: Any, contents: Any) -> tuple[str, int]:
    """Last user text and word count of a Gemini generateContent request."""
    words = 0
    if isinstance(system_instruction, dict):
        words += count_words(system_instruction.get("parts"))
    if isinstance(contents, list):
        for content in contents:
            if isinstance(content, dict):
                words += count_words(content.get("parts"))
    return last_text(contents, "parts", ("user", None)), words


def answers_tool(messages: Any) -> bool:
    """Whether the last message gives back a tool's result (OpenAI `tool` or `function`
    message, Anthropic `tool_result` block, Gemini `functionResponse` part): the turn after
    it is answered in text, which ends a tool loop."""
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return False
    last = messages[-1]
    if last.get("role") in ("tool", "function"):
        return True
    blocks = last.get("content") if "content" in last else last.get("parts")
    if not isinstance(blocks, list):
        return False
    return any(
        isinstance(b, dict) and (b.get("type") == "tool_result" or "functionResponse" in b)
        for b in blocks
    )
