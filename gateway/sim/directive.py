"""The `[sim key=value ...]` directive that lets one request override the simulator's knobs."""

from __future__ import annotations

from dataclasses import dataclass, replace

from gateway.sim.options import SimOptions

ERRORS = frozenset({"429", "500", "503", "overloaded", "mid_stream", "stall", "odd_shape"})
INT_KEYS = frozenset(
    {"tokens", "error_after", "tool_calls", "usage", "batch_expire", "cached", "cache_write",
     "echo_key"}
)
FLOAT_KEYS = frozenset({"ttft_ms", "tps", "batch_delay_ms"})
FLAG_KEYS = frozenset({"usage", "batch_expire", "echo_key"})


class DirectiveError(ValueError):
    """A `[sim ...]` directive that cannot be understood."""


@dataclass(frozen=True, slots=True)
class Plan:
    """How one request should be answered: timing, length, failure, tool calls, batch timing,
    and prompt tokens reported as read from (`cached`) or written to (`cache_write`) a prompt
    cache, on top of the prompt's own words; and whether to echo the request's key."""

    ttft: float
    tps: float
    tokens: int
    tag: str | None = None
    error: str | None = None
    error_after: int = 2
    tool_calls: int | None = None
    usage: bool | None = None
    batch_delay_ms: float | None = None
    batch_expire: bool = False
    cached: int = 0
    cache_write: int = 0
    echo_key: bool = False  # answer with the request's API key in it (`gateway.sim.echo`)


def default_plan(options: SimOptions) -> Plan:
    """The plan of a request that carries no directive."""
    return Plan(
        ttft=max(options.ttft_ms, 0.0) / 1000.0,
        tps=max(options.tokens_per_second, 0.0),
        tokens=max(options.output_tokens, 0),
    )


def parse_directive(text: str) -> dict[str, str] | None:
    """The key/value pairs of the first `[sim ...]` in `text`, or None."""
    start = text.find("[sim")
    while start != -1:
        after = start + 4
        if after < len(text) and text[after] in " ]\t\n":
            end = text.find("]", after)
            if end == -1:
                raise DirectiveError("unterminated [sim ...] directive")
            pairs: dict[str, str] = {}
            for item in text[after:end].split():
                key, sep, value = item.partition("=")
                if not sep:
                    raise DirectiveError(f"sim directive item {item!r} is not key=value")
                pairs[key] = value
            return pairs
        start = text.find("[sim", after)
    return None


def plan_for(base: Plan, text: str) -> Plan:
    """`base` overridden by the directive in `text`, if there is one."""
    if "[sim" not in text:
        return base
    pairs = parse_directive(text)
    if pairs is None:
        return base
    changes: dict[str, object] = {}
    for key, value in pairs.items():
        if key in FLOAT_KEYS:
            number = _number(key, value, float)
            if key == "ttft_ms":
                changes["ttft"] = number / 1000.0
            elif key == "tps":
                changes["tps"] = number
            else:
                changes[key] = number
        elif key in INT_KEYS:
            number = _number(key, value, int)
            changes[key] = bool(number) if key in FLAG_KEYS else number
        elif key == "tag":
            changes["tag"] = value
        elif key == "error":
            if value not in ERRORS:
                raise DirectiveError(f"unknown sim error {value!r}")
            changes["error"] = value
        else:
            raise DirectiveError(f"unknown sim directive key {key!r}")
    return replace(base, **changes)  # type: ignore[arg-type]


def _number(key: str, value: str, kind: type[int] | type[float]) -> float:
    try:
        number = kind(value)
    except ValueError:
        raise DirectiveError(f"sim directive {key}={value!r} is not a number") from None
    if number < 0:
        raise DirectiveError(f"sim directive {key} must not be negative")
    return number
