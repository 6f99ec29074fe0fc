"""Times in spend queries: ISO 8601 (`2025-06-01`, `2025-06-01T12:00:00Z`) or relative (`24h`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from gateway.errors import BadRequest

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(value: str, now: datetime | None = None) -> datetime:
    """An absolute UTC time; `24h` means 24 hours before `now`. Naive times are UTC."""
    now = now or datetime.now(UTC)
    match = _RELATIVE.match(value)
    if match:
        try:
            return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
        except OverflowError:
            raise ValueError(f"{value!r} reaches back before the year 1") from None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"expected an ISO 8601 time (2025-06-01T12:00:00Z) or a relative one (30m, 24h, "
            f"7d), got {value!r}"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """The `since`/`until` query parameters; a bad one is a 400 naming it."""
    bounds: list[datetime | None] = []
    for name, value in (("since", since), ("until", until)):
        try:
            bounds.append(parse_time(value) if value else None)
        except ValueError as exc:
            raise BadRequest(f"{name}: {exc}", param=name) from None
    return bounds[0], bounds[1]
