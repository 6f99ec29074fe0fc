"""Input items as the gateway keeps and replays them.

A request's `input` is stored as a list of items, each with an id (`GET .../input_items` pages
by it); messages get their content as parts. A `previous_response_id` chain is replayed as
each stored response's input items followed by its output items, oldest first, then the new
request's own input. Ids and statuses the gateway made up are not sent upstream.
"""

from __future__ import annotations

import os
from typing import Any

from gateway.translate.responses_request import message_items

_PREFIXES = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "reasoning": "rs",
}
_INPUT_PART = {"user": "input_text", "system": "input_text", "developer": "input_text"}


def _new_id(kind: str) -> str:
    return f"{_PREFIXES.get(kind, 'item')}_{os.urandom(12).hex()}"


def stored_items(value: Any) -> list[dict[str, Any]]:
    """`input` as the stored items: ids added, message text as content parts."""
    items = []
    for raw in message_items(value):
        if not isinstance(raw, dict):
            continue
        item = dict(raw)
        kind = item.setdefault("type", "message")
        item.setdefault("id", _new_id(kind))
        if kind == "message":
            content = item.get("content")
            if isinstance(content, str):
                part = _INPUT_PART.get(str(item.get("role")), "output_text")
                item["content"] = [{"type": part, "text": content}]
            item.setdefault("status", "completed")
        items.append(item)
    return items


def replayed(chain: list[Any]) -> list[dict[str, Any]]:
    """The conversation of a stored chain (rows oldest first), ready to send upstream."""
    history: list[dict[str, Any]] = []
    for row in chain:
        for item in [*row.input, *(row.response.get("output") or [])]:
            if isinstance(item, dict) and not _made_up_reasoning(item):
                history.append(_for_upstream(item))
    return history


def _for_upstream(item: dict[str, Any]) -> dict[str, Any]:
    """Without the ids and statuses the upstream may not know (reasoning items keep theirs)."""
    if item.get("type") == "reasoning":
        return item
    return {k: v for k, v in item.items() if k not in ("id", "status")}


def _made_up_reasoning(item: dict[str, Any]) -> bool:
    """Thinking a translated call showed (`rs_<call id>_<n>`): no upstream can take it back."""
    item_id = str(item.get("id") or "")
    return item.get("type") == "reasoning" and "_" in item_id[3:]


def page(
    items: list[dict[str, Any]], limit: int, order: str, after: str | None
) -> dict[str, Any]:
    """A list object of input items (newest first unless `order` is asc), after `after`."""
    ordered = items if order == "asc" else list(reversed(items))
    if after is not None:
        ids = [item.get("id") for item in ordered]
        ordered = ordered[ids.index(after) + 1 :] if after in ids else []
    data = ordered[:limit]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(ordered) > limit,
    }
