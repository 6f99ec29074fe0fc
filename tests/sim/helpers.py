"""Small helpers shared by the simulator tests."""

from __future__ import annotations

import uuid


def new_tag() -> str:
    """A tag no other test uses, to find this test's record in the shared stats."""
    return uuid.uuid4().hex[:12]


def directive(**values: object) -> str:
    """A `[sim ...]` directive with `values`."""
    return "[sim " + " ".join(f"{key}={value}" for key, value in values.items()) + "]"
