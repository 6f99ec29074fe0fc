"""How a verdict reaches the client: OpenAI's `x-ratelimit-*` headers, and the 429 of a refusal
(with `retry-after`) in words."""

from __future__ import annotations

import math
from datetime import datetime

from gateway.budgets.estimate import usd
from gateway.budgets.terms import Verdict, Window
from gateway.errors import LimitExceeded

Headers = tuple[tuple[bytes, bytes], ...]

LIMIT_NAMES = {
    "rpm": "requests per minute",
    "tpm": "tokens per minute",
    "concurrency": "calls in flight",
    "usd_per_day": "USD budget per day",
    "usd_per_month": "USD budget per month",
}
BUDGETS = ("usd_per_day", "usd_per_month")


def duration(seconds: float) -> str:
    """A reset time as OpenAI writes it: `20ms`, `1s`, `1.5s`, `6m0s`."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    minutes, rest = divmod(round(seconds, 3), 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


def dollars(amount: int) -> str:
    """Pico-USD as `$0.25`."""
    return f"${usd(amount).normalize():f}"


def _window(kind: bytes, window: Window) -> Headers:
    return (
        (b"x-ratelimit-limit-" + kind, str(window.limit).encode()),
        (b"x-ratelimit-remaining-" + kind, str(window.remaining).encode()),
        (b"x-ratelimit-reset-" + kind, duration(window.reset).encode()),
    )


def rate_headers(verdict: Verdict) -> Headers:
    """`x-ratelimit-{limit,remaining,reset}-{requests,tokens}` of the tightest scope."""
    headers: Headers = ()
    if verdict.requests is not None:
        headers += _window(b"requests", verdict.requests)
    if verdict.tokens is not None:
        headers += _window(b"tokens", verdict.tokens)
    return headers


def refusal(
    verdict: Verdict, whose: str, retry_after: float, budget: int | None, cost: int,
    resets: datetime | None,
) -> LimitExceeded:
    """The 429 for a refused call: which limit, whose, and when to retry."""
    limit = verdict.refused or "rpm"
    name = LIMIT_NAMES[limit]
    if limit in BUDGETS:
        message = f"The {name} of {whose} ({dollars(budget or 0)}) is used up"
        if budget is not None and cost > budget:
            message += (f": this call could cost up to {dollars(cost)}, more than the whole "
                        "budget (lower max_tokens)")
        elif resets is not None and verdict.retry_after is None:
            message += f" until {resets:%Y-%m-%dT%H:%M:%SZ}"
        else:
            message += " by calls in flight; retry when they end"
        code = "budget_exceeded"
    else:
        message = f"Rate limit reached for {whose} on {name} ({limit})"
        code = "rate_limit_exceeded"
    wait = max(1, math.ceil(retry_after))
    headers = {"retry-after": str(wait),
               "retry-after-ms": str(max(1, math.ceil(retry_after * 1000)))}
    headers.update((k.decode(), v.decode()) for k, v in rate_headers(verdict))
    return LimitExceeded(f"{message}. Retry after {wait}s.", code=code, headers=headers,
                         limit=limit)
