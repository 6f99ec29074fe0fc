"""Recorded upstream streams, byte for byte, with each vendor's quirks in them."""

from __future__ import annotations

ANTHROPIC = (
    "event: message_start\n"
    'data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",'
    '"model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":'
    '{"input_tokens":472,"cache_creation_input_tokens":20,"cache_read_input_tokens":8,'
    '"output_tokens":2}}}\n\n'
    "event: ping\n"
    'data: {"type": "ping"}\n\n'
    ": a comment line the decoder must skip\n\n"
    "event: content_block_start\n"
    'data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking",'
    '"thinking":""}}\n\n'
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta",'
    '"thinking":"Let me think\u2026"}}\n\n'
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta",'
    '"signature":"EqQBCgIYAhIM"}}\n\n'
    "event: content_block_stop\n"
    'data: {"type":"content_block_stop","index":0}\n\n'
    "event: content_block_start\n"
    'data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}\n\n'
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta",'
    '"text":"H\u00e9llo \u2603 "}}\n\n'
    "event: some_future_event\n"
    'data: {"type":"some_future_event","detail":{"x":1}}\n\n'
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta",'
    '"text":"w\U0001f600rld"}}\n\n'
    "event: content_block_stop\n"
    'data: {"type":"content_block_stop","index":1}\n\n'
    "event: content_block_start\n"
    'data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use",'
    '"id":"toolu_1","name":"get_weather","input":{}}}\n\n'
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta",'
    '"partial_json":""}}\n\n'
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta",'
    '"partial_json":"{\\"location\\": \\"San Fra"}}\n\n'
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta",'
    '"partial_json":"ncisco\\"}"}}\n\n'
    "event: content_block_stop\n"
    'data: {"type":"content_block_stop","index":2}\n\n'
    "event: content_block_start\n"
    'data: {"type":"content_block_start","index":3,"content_block":{"type":"tool_use",'
    '"id":"toolu_2","name":"get_time","input":{}}}\n\n'
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta",'
    '"partial_json":""}}\n\n'
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta",'
    '"partial_json":"{\\"tz\\":\\"CET\\"}"}}\n\n'
    "event: content_block_stop\n"
    'data: {"type":"content_block_stop","index":3}\n\n'
    "event: message_delta\n"
    'data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},'
    '"usage":{"output_tokens":89}}\n\n'
    "event: ping\n"
    'data: {"type": "ping"}\n\n'
    "event: message_stop\n"
    'data: {"type":"message_stop"}\n\n'
).encode()

ANTHROPIC_ERROR = (
    b"event: message_start\n"
    b'data: {"type":"message_start","message":{"id":"msg_2","usage":{"input_tokens":9,'
    b'"output_tokens":1}}}\n\n'
    b"event: content_block_start\n"
    b'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\n'
    b"event: error\n"
    b'data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
)

GEMINI = (
    'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Thinking about it",'
    '"thought":true}]},"index":0}],"usageMetadata":{"promptTokenCount":9,'
    '"candidatesTokenCount":0,"thoughtsTokenCount":40,"totalTokenCount":49},'
    '"modelVersion":"gemini-2.5-flash"}\r\n\r\n'
    'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Gr\u00fc\u00df "}]},'
    '"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":2,'
    '"thoughtsTokenCount":40,"totalTokenCount":51},"modelVersion":"gemini-2.5-flash"}\r\n\r\n'
    'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"dich \u65e5\u672c"}]},'
    '"index":0}],"modelVersion":"gemini-2.5-flash"}\r\n\r\n'
    'data: {"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":'
    '"get_weather","args":{"location":"Paris","days":3}}},{"functionCall":{"name":"get_time",'
    '"args":{"tz":"CET"}}}]},"finishReason":"STOP","index":0}],"usageMetadata":'
    '{"promptTokenCount":9,"candidatesTokenCount":12,"thoughtsTokenCount":40,'
    '"totalTokenCount":61},"modelVersion":"gemini-2.5-flash"}\r\n\r\n'
).encode()

GEMINI_ERROR = (
    b'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]},"index":0}],'
    b'"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":1}}\n\n'
    b'data: {"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}\n\n'
)

OPENAI_TOOLS = (
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    '[{"index":0,"delta":{"role":"assistant","content":null},"finish_reason":null}]}\n\n'
    ": keep-alive\n\n"
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    '[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":'
    '{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}\n\n'
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    '[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"loca"}}]},'
    '"finish_reason":null}]}\n\n'
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    '[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"tion\\": \\"Z\u00fc'
    'rich\\"}"}}]},"finish_reason":null}]}\n\n'
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    '[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":'
    '{"name":"get_time","arguments":"{\\"tz\\":"}}]},"finish_reason":null}]}\n\n'
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    '[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"\\"CET\\"}"}}]},'
    '"finish_reason":null}]}\n\n'
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    '[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\n\n'
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],'
    '"usage":{"prompt_tokens":31,"completion_tokens":17,"total_tokens":48}}\n\n'
    "data: [DONE]\n\n"
).encode()

OPENAI_ERROR = (
    b'data: {"id":"c2","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n'
    b'data: {"error":{"message":"The server had an error","type":"server_error","param":null,'
    b'"code":null}}\n\n'
)
