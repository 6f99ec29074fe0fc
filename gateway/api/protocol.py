"""uvicorn's httptools protocol with bounds on the request head: its size and its time.

httptools has no limit on header size and uvicorn no timeout before a request's head is
complete, so one huge or slow head could hold a connection and its memory forever. Here a head
over `max_header_bytes` is a 431 and a head not complete within `client_header_timeout` a 408
(a connection that never sent a byte is just closed); both close the connection.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from gateway.config import Settings
from gateway.errors import GatewayError, HeadersTooLarge, RequestTimeout, openai_error_bytes

HEAD_FRAMING = 16  # method, version and line ends around the URL; 4 bytes around each header


@dataclass(frozen=True, slots=True)
class HeadLimits:
    max_bytes: int
    timeout: float


def protocol_for(settings: Settings) -> Callable[..., HeadBoundedProtocol]:
    """The `http=` protocol factory for uvicorn (picklable, so `--workers N` can use it)."""
    limits = HeadLimits(settings.max_header_bytes, settings.client_header_timeout)
    return functools.partial(HeadBoundedProtocol, limits=limits)


class HeadBoundedProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, limits: HeadLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.head_bytes: int | None = 0  # bytes of the head being read; None after it
        self.head_timer: asyncio.TimerHandle | None = None
        self.refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        if self.head_bytes is not None:
            if self.head_timer is None:  # the first bytes of the next request on this connection
                self._start_timer()
            self.head_bytes += len(data)
        super().data_received(data)
        if self.head_bytes is not None and self.head_bytes > self.limits.max_bytes:
            self._refuse(self._too_large())

    def on_headers_complete(self) -> None:
        if self.refused:
            return
        self._stop_timer()
        self.head_bytes = None
        size = len(self.url) + sum(len(k) + len(v) + 4 for k, v in self.headers) + HEAD_FRAMING
        if size > self.limits.max_bytes:
            self._refuse(self._too_large())
            return
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None:  # its answer's head goes out with its body (`HeadWithBody`)
            held = HeadWithBody(self.transport, cycle.on_response)
            cycle.transport = held  # type: ignore[assignment]
            cycle.on_response = held.finish

    def on_body(self, body: bytes) -> None:
        if not self.refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self.refused:
            return
        super().on_message_complete()
        self.head_bytes = 0  # what follows on this connection is the next request's head

    def _too_large(self) -> HeadersTooLarge:
        return HeadersTooLarge(
            f"the request line and headers exceed {self.limits.max_bytes} bytes "
            "(max_header_bytes)"
        )

    def _start_timer(self) -> None:
        self.head_timer = self.loop.call_later(self.limits.timeout, self._head_timed_out)

    def _stop_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if not self.head_bytes:  # an idle connection that never started a request
            self.transport.close()
            return
        self._refuse(RequestTimeout(
            f"the request headers did not arrive within {self.limits.timeout:g}s "
            "(client_header_timeout)"
        ))

    def _refuse(self, err: GatewayError) -> None:
        """Answer `err` and close; a response still being sent is finished first."""
        self.refused = True
        self._stop_timer()
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # a pipelined head: close after the current answer
            self.flow.pause_reading()
            return
        body = openai_error_bytes(err)
        self.transport.write(b"".join([
            STATUS_LINE[err.status],
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]))
        self.transport.close()


class HeadWithBody:
    """The connection as one response's cycle writes to it: a head that announces a
    Content-Length is held until the body's first write and goes out with it, one send
    instead of two (uvicorn writes the head as soon as the response starts). At 5,000 calls/s
    the second send was 8% of the request loop's time. A stream's head (chunked) is written at
    once, as before; a held head still goes out when the response ends without a body (HEAD)
    or the connection closes."""

    __slots__ = ("transport", "held", "started", "done")

    def __init__(self, transport: asyncio.Transport, done: Callable[[], None]) -> None:
        self.transport = transport
        self.held: bytes | None = None
        self.started = False  # the head (or a 100 Continue) was written
        self.done = done

    def write(self, data: bytes) -> None:
        held = self.held
        if held is not None:
            self.held = None
            self.transport.write(held + data)
        elif not self.started and b"\r\ncontent-length: " in data:  # the head, sized
            self.started = True
            self.held = data
        else:
            self.started = self.started or not data.startswith(b"HTTP/1.1 100 ")
            self.transport.write(data)

    def flush(self) -> None:
        held, self.held = self.held, None
        if held is not None and not self.transport.is_closing():
            self.transport.write(held)

    def finish(self) -> None:
        """The response is complete (`on_response` of its cycle)."""
        self.flush()
        self.done()

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)
