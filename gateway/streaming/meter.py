"""What a call produced, gathered on the side while its bytes are relayed."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from gateway.errors import GatewayError


@dataclass(slots=True)
class Meter:
    started: float = field(default_factory=time.perf_counter)
    upstream_sent_at: float | None = None
    first_token_at: float | None = None
    last_token_at: float | None = None
    prompt_tokens: int | None = None  # from the provider's usage, when it arrives
    completion_tokens: int | None = None
    cache_read_tokens: int | None = None  # of the prompt, read from the provider's cache
    cache_write_tokens: int | None = None  # of the prompt, written to it
    delivered: list[str] = field(default_factory=list)  # text and tool arguments relayed
    delivered_chunks: int = 0
    finish_reason: str | None = None
    done: bool = False  # the provider's end-of-stream signal was seen
    error: GatewayError | None = None  # an error event from the provider after HTTP 200
    delivered_at_gone: int | None = None  # pieces relayed before the client left

    def mark_client_gone(self) -> None:
        """Freeze what counts as delivered: a draining relay goes on reading after this."""
        if self.delivered_at_gone is None:
            self.delivered_at_gone = len(self.delivered)

    def deliver(self, text: str) -> None:
        now = time.perf_counter()
        if self.first_token_at is None:
            self.first_token_at = now
        self.last_token_at = now
        self.delivered.append(text)
        self.delivered_chunks += 1

    def set_usage(
        self,
        prompt: int | None,
        completion: int | None,
        cache_read: int | None = None,
        cache_write: int | None = None,
    ) -> None:
        """Keep the counts reported; one left out (None, or not a number) keeps its value."""
        if isinstance(prompt, int):
            self.prompt_tokens = prompt
        if isinstance(completion, int):
            self.completion_tokens = completion
        if isinstance(cache_read, int):
            self.cache_read_tokens = cache_read
        if isinstance(cache_write, int):
            self.cache_write_tokens = cache_write

    @property
    def has_usage(self) -> bool:
        return self.completion_tokens is not None

    @property
    def delivered_text(self) -> str:
        """The text the client received (before it left, if it left)."""
        if self.delivered_at_gone is not None:
            return "".join(self.delivered[: self.delivered_at_gone])
        return "".join(self.delivered)
