"""One module per vendor behind one interface (`Provider` in `base`)."""

from __future__ import annotations

from gateway.config import ProviderConfig
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.base import Provider
from gateway.providers.gemini import GeminiProvider
from gateway.providers.openai import OpenAIProvider

_KINDS: dict[str, type[Provider]] = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
}


def build_provider(config: ProviderConfig) -> Provider:
    """The adapter for a configured provider."""
    try:
        return _KINDS[config.kind](config)
    except KeyError:
        raise NotImplementedError(f"provider kind {config.kind!r} is not supported yet") from None


def supported_kinds() -> list[str]:
    return sorted(_KINDS)
