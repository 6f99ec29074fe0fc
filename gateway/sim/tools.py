"""Tool calls the simulator makes up: which tool, deterministic arguments, random split points."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.sim.schema_json import instance


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A declared tool: its name and JSON schema of parameters."""

    name: str
    parameters: Any


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call to emit: arguments as an object, as JSON text, and as streamed fragments."""

    id: str
    name: str
    args: dict[str, Any]
    arguments: str
    fragments: tuple[str, ...]


def choose_tool(
    specs: list[ToolSpec], named: str | None, forced: bool, directive_count: int | None
) -> tuple[ToolSpec, int] | None:
    """The tool to call and how many parallel calls, or None for a text answer."""
    if not specs:
        return None
    count = directive_count if directive_count is not None else (1 if forced or named else 0)
    if count <= 0:
        return None
    for spec in specs:
        if spec.name == named:
            return spec, count
    return specs[0], count


def arguments_for(parameters: Any, call_index: int) -> dict[str, Any]:
    """Arguments valid under the `parameters` schema, deterministic per call index."""
    if not isinstance(parameters, dict):
        return {}
    args = instance(parameters, call_index)
    return args if isinstance(args, dict) else {}


def split_text(text: str, rng: random.Random) -> tuple[str, ...]:
    """`text` cut into 2 to 6 fragments at random points."""
    if len(text) < 2:
        return (text,)
    cuts = min(rng.randint(2, 6), len(text)) - 1
    points = sorted(rng.sample(range(1, len(text)), cuts))
    bounds = [0, *points, len(text)]
    return tuple(text[a:b] for a, b in zip(bounds, bounds[1:], strict=False))


def make_calls(spec: ToolSpec, count: int, rng: random.Random, id_prefix: str) -> list[ToolCall]:
    """`count` parallel calls to `spec`."""
    calls = []
    for index in range(count):
        args = arguments_for(spec.parameters, index)
        arguments = orjson.dumps(args).decode()
        fragments = split_text(arguments, rng)
        calls.append(ToolCall(f"{id_prefix}_{index}", spec.name, args, arguments, fragments))
    return calls
