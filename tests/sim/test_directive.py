"""Parsing `[sim key=value]` directives into plans."""

from __future__ import annotations

import pytest

from gateway.sim.directive import DirectiveError, Plan, default_plan, parse_directive, plan_for
from gateway.sim.options import SimOptions

BASE = default_plan(SimOptions())


def test_default_plan_follows_options() -> None:
    plan = default_plan(SimOptions(ttft_ms=120, tokens_per_second=25, output_tokens=7))
    assert plan == Plan(ttft=0.12, tps=25, tokens=7)


def test_text_without_directive_keeps_the_same_plan_object() -> None:
    assert plan_for(BASE, "plain question, [simple] brackets") is BASE
    assert parse_directive("no directive here") is None


def test_all_keys_are_applied() -> None:
    text = "hello [sim ttft_ms=5 tps=200 tokens=3 tag=t-1 error=mid_stream error_after=1] world"
    plan = plan_for(BASE, text)
    assert plan.ttft == pytest.approx(0.005)
    assert (plan.tps, plan.tokens, plan.tag) == (200, 3, "t-1")
    assert (plan.error, plan.error_after) == ("mid_stream", 1)


def test_tool_calls_and_usage() -> None:
    plan = plan_for(BASE, "[sim tool_calls=2 usage=0]")
    assert plan.tool_calls == 2
    assert plan.usage is False
    assert plan.tokens == BASE.tokens


def test_empty_directive_changes_nothing() -> None:
    assert plan_for(BASE, "[sim]") == BASE


@pytest.mark.parametrize(
    "text",
    ["[sim tokens=lots]", "[sim error=418]", "[sim colour=red]", "[sim tokens]", "[sim tps=-1]"],
)
def test_bad_directives_are_refused(text: str) -> None:
    with pytest.raises(DirectiveError):
        plan_for(BASE, text)


def test_unterminated_directive_is_refused() -> None:
    with pytest.raises(DirectiveError):
        parse_directive("[sim tokens=3")


def test_batch_keys() -> None:
    plan = plan_for(BASE, "[sim batch_delay_ms=250 batch_expire=1]")
    assert (plan.batch_delay_ms, plan.batch_expire) == (250.0, True)
    assert (BASE.batch_delay_ms, BASE.batch_expire) == (None, False)
