"""The Responses API stream parser (the native relay's side reader) and the encoder (the
translated path's writer): any split of the byte stream gives the same neutral events and
the same Response object; what the encoder writes reads back as what it was given."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import UpstreamError
from gateway.streaming.sse import SSEDecoder
from gateway.translate.responses_response import ResponsesEncoder, echo_of
from gateway.translate.responses_stream import ResponsesParser
from gateway.translate.types import (
    Finish,
    ReasoningDelta,
    StreamEnd,
    StreamError,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

from .helpers import parse, provider, split, summary


def _event(kind: str, seq: int, **fields: object) -> bytes:
    data = orjson.dumps({"type": kind, "sequence_number": seq, **fields})
    return b"event: " + kind.encode() + b"\r\ndata: " + data + b"\r\n\r\n"


def _recording() -> bytes:
    response = {"id": "resp_1", "object": "response", "status": "in_progress", "output": []}
    message = {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress",
               "content": []}
    call = {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "get_weather",
            "arguments": "", "status": "in_progress"}
    part = {"type": "output_text", "text": "", "annotations": []}
    done_message = {**message, "status": "completed",
                    "content": [{**part, "text": "Gr\u00fc\u00df \u65e5\u672c"}]}
    done_call = {**call, "status": "completed", "arguments": '{"location":"Z\u00fcrich"}'}
    final = {**response, "status": "completed", "output": [done_message, done_call],
             "usage": {"input_tokens": 31, "output_tokens": 17, "total_tokens": 48}}
    return b"".join([
        _event("response.created", 0, response=response),
        b": keep-alive comment\r\n\r\n",
        _event("response.in_progress", 1, response=response),
        _event("response.output_item.added", 2, output_index=0,
               item={"id": "rs_1", "type": "reasoning", "summary": []}),
        _event("response.reasoning_text.delta", 3, output_index=0, item_id="rs_1",
               content_index=0, delta="Let me think\u2026"),
        _event("response.output_item.added", 4, output_index=1, item=message),
        _event("response.content_part.added", 5, output_index=1, item_id="msg_1",
               content_index=0, part=part),
        _event("response.output_text.delta", 6, output_index=1, item_id="msg_1",
               content_index=0, delta="Gr\u00fc\u00df "),
        _event("response.output_text.delta", 7, output_index=1, item_id="msg_1",
               content_index=0, delta="\u65e5\u672c"),
        _event("response.output_item.done", 8, output_index=1, item=done_message),
        _event("response.output_item.added", 9, output_index=2, item=call),
        _event("response.function_call_arguments.delta", 10, output_index=2, item_id="fc_1",
               delta='{"location":'),
        _event("response.function_call_arguments.delta", 11, output_index=2, item_id="fc_1",
               delta='"Z\u00fcrich"}'),
        _event("response.output_item.done", 12, output_index=2, item=done_call),
        _event("response.completed", 13, response=final),
    ])


RECORDING = _recording()
ERRORS = {
    "nested": _event("response.created", 0, response={"id": "r", "status": "in_progress"})
    + _event("error", 1, error={"type": "server_error", "message": "boom"}),
    "flat": _event("response.created", 0, response={"id": "r", "status": "in_progress"})
    + _event("error", 1, code="server_error", message="boom", param=None),
}


def read(chunks: list[bytes]) -> tuple[list, dict | None]:
    parser = ResponsesParser(provider("openai"))
    events = parse(parser, chunks)
    return [summary(e) for e in events], parser.snapshot()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 100_000), max_size=40))
def test_any_chunking_gives_the_same_events_and_response(cuts: list[int]) -> None:
    assert read(split(RECORDING, cuts)) == read([RECORDING])


@settings(max_examples=5, deadline=None)
@given(st.just(RECORDING))
def test_byte_by_byte(data: bytes) -> None:
    assert read([data[i : i + 1] for i in range(len(data))]) == read([data])


def test_events_and_final_object() -> None:
    events, response = read([RECORDING])
    assert events == [
        ("thinking", "Let me think\u2026"),
        ("text", "Gr\u00fc\u00df "),
        ("text", "\u65e5\u672c"),
        ("tool", 0, "call_1", "get_weather"),
        ("args", 0, '{"location":'),
        ("args", 0, '"Z\u00fcrich"}'),
        ("usage", 31, 17),
        ("finish", "tool_calls"),
        ("end",),
    ]
    assert response is not None and response["status"] == "completed"
    assert [item["type"] for item in response["output"]] == ["message", "function_call"]


def test_a_cut_stream_keeps_its_output_so_far() -> None:
    cut = RECORDING[: RECORDING.index(b"event: response.output_item.done")]
    events, response = read([cut])
    assert not any(e[0] in ("finish", "end") for e in events)
    assert response is not None and response["status"] == "in_progress"
    assert response["output"][1]["content"][0]["text"] == "Gr\u00fc\u00df \u65e5\u672c"


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(sorted(ERRORS)), st.lists(st.integers(0, 1000), max_size=10))
def test_error_events_nested_or_flat(name: str, cuts: list[int]) -> None:
    events = parse(ResponsesParser(provider("openai")), split(ERRORS[name], cuts))
    assert len(events) == 1 and isinstance(events[0], StreamError)
    assert events[0].error.message == "boom"


def test_gateway_failure_continues_the_sequence() -> None:
    parser = ResponsesParser(provider("openai"))
    parse(parser, [RECORDING[: RECORDING.index(b"event: response.output_item.done")]])
    (failed,) = SSEDecoder().feed(parser.failed(UpstreamError("cut"), (31, 2)))
    payload = orjson.loads(failed.data or "")
    assert (payload["type"], payload["sequence_number"]) == ("response.failed", 8)
    assert payload["response"]["error"]["message"] == "cut"


def test_encoder_output_reads_back_the_same() -> None:
    encoder = ResponsesEncoder("c1", "m", echo_of({"instructions": "hi"}))
    given_events = [
        ReasoningDelta("hmm"), TextDelta("Hel"), TextDelta("lo"),
        ToolCallStart(0, "call_a", "f"), ToolCallDelta(0, '{"a":'), ToolCallDelta(0, "1}"),
        Finish("tool_calls"), Usage(5, 7), StreamEnd(),
    ]
    data = encoder.events(given_events[:3]) + encoder.events(given_events[3:])
    events, response = read([data])
    assert events == [summary(e) for e in given_events if not isinstance(e, (Finish, Usage,
                                                                            StreamEnd))] + [
        ("usage", 5, 7), ("finish", "tool_calls"), ("end",)]
    assert response == encoder.snapshot()
    sequence = [orjson.loads(e.data or "")["sequence_number"] for e in SSEDecoder().feed(data)]
    assert sequence == list(range(len(sequence)))
