"""The one incremental Server-Sent Events decoder, fed raw bytes as they arrive.

Events end at a blank line whatever the line endings (`\\n`, `\\r\\n`, `\\r`), and reads may
split anywhere, even inside a multi-byte character or between `\\r` and `\\n`: lines are only
decoded once complete. Each event keeps its raw bytes so a same-protocol relay can forward it
untouched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_BREAK = re.compile(rb"[\r\n]")
_CR = 0x0D
_LF = 0x0A


@dataclass(slots=True)
class SSEEvent:
    raw: bytes
    event: str | None = None
    data: str | None = None  # None when the block held no data line (comments only)


class SSEDecoder:
    """Incremental decoder: `feed()` bytes, get the events they complete; `close()` at EOF."""

    __slots__ = ("_buf", "_scan", "_event", "_data")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scan = 0  # bytes of _buf already split into lines
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self._buf += chunk
        return self._drain(final=False)

    def close(self) -> list[SSEEvent]:
        """End of stream: a last event without its blank line is still delivered."""
        events = self._drain(final=True)
        if self._buf.strip():
            if self._scan < len(self._buf):
                self._field(bytes(self._buf[self._scan:]))
            events.append(self._dispatch(bytes(self._buf)))
        self._buf.clear()
        self._scan = 0
        return events

    def _drain(self, *, final: bool) -> list[SSEEvent]:
        buf = self._buf
        events: list[SSEEvent] = []
        start = 0  # where the current event's raw bytes begin
        pos = self._scan
        while True:
            match = _LINE_BREAK.search(buf, pos)
            if match is None:
                break
            index = match.start()
            if buf[index] == _CR:
                if index + 1 == len(buf) and not final:
                    break  # a "\n" may follow in the next read
                end = index + 2 if index + 1 < len(buf) and buf[index + 1] == _LF else index + 1
            else:
                end = index + 1
            if index == pos:
                events.append(self._dispatch(bytes(buf[start:end])))
                start = end
            else:
                self._field(bytes(buf[pos:index]))
            pos = end
        if start:
            del buf[:start]
        self._scan = pos - start
        return events

    def _field(self, line: bytes) -> None:
        if line[:1] == b":":
            return
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value.decode("utf-8", "replace"))
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")

    def _dispatch(self, raw: bytes) -> SSEEvent:
        data = "\n".join(self._data) if self._data else None
        event = SSEEvent(raw=raw, event=self._event, data=data)
        self._event = None
        self._data = []
        return event
