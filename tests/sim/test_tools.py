"""Tool choice, deterministic arguments and random split points."""

from __future__ import annotations

import json
import random

from gateway.sim.tools import ToolSpec, arguments_for, choose_tool, make_calls, split_text

WEATHER = ToolSpec(
    "get_weather",
    {
        "type": "object",
        "properties": {"location": {"type": "string"}, "unit": {"enum": ["celsius", "kelvin"]}},
    },
)
TIME = ToolSpec("get_time", {"type": "object", "properties": {"zone": {"type": "string"}}})


def test_no_call_unless_forced_named_or_directed() -> None:
    assert choose_tool([WEATHER, TIME], None, False, None) is None
    assert choose_tool([], None, True, 3) is None
    assert choose_tool([WEATHER, TIME], None, True, None) == (WEATHER, 1)
    assert choose_tool([WEATHER, TIME], "get_time", True, None) == (TIME, 1)
    assert choose_tool([WEATHER, TIME], None, False, 3) == (WEATHER, 3)
    assert choose_tool([WEATHER, TIME], None, True, 0) is None


def test_arguments_are_strings_for_every_property_and_deterministic() -> None:
    first = arguments_for(WEATHER.parameters, 0)
    assert first == {"location": "San Francisco", "unit": "celsius"}
    assert arguments_for(WEATHER.parameters, 0) == first
    assert arguments_for(WEATHER.parameters, 1) != first
    assert arguments_for(None, 0) == {}


def test_split_points_cover_the_text_in_two_to_six_fragments() -> None:
    rng = random.Random(0)
    text = '{"location":"San Francisco","unit":"celsius"}'
    counts = set()
    for _ in range(200):
        fragments = split_text(text, rng)
        assert "".join(fragments) == text
        assert 2 <= len(fragments) <= 6
        assert all(fragments)
        counts.add(len(fragments))
    assert counts == {2, 3, 4, 5, 6}


def test_same_seed_same_fragments() -> None:
    one = make_calls(WEATHER, 2, random.Random(7), "call")
    two = make_calls(WEATHER, 2, random.Random(7), "call")
    assert [c.fragments for c in one] == [c.fragments for c in two]
    assert [c.id for c in one] == ["call_0", "call_1"]
    assert json.loads(one[1].arguments) == one[1].args
