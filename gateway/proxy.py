"""Run one proxied call end to end: upstream request, relay, abort, and its record.

The call journal hears of the call when it starts and of its outcome before the last byte
reaches the client (the ledger writer records it a moment later; the journal covers a crash
in between)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from starlette.types import Receive, Send

from gateway.api.asgi import JSON, send_chunk, send_response, start_stream
from gateway.api.shapes import ErrorShape
from gateway.calls import Call
from gateway.config import Settings
from gateway.errors import GatewayError, ShuttingDown, UpstreamError
from gateway.http1 import Response
from gateway.ledger.journal import Journal, NullJournal
from gateway.providers.errors import error_from_response, upstream_failures
from gateway.routing.plan import Attempt, Plan
from gateway.streaming.disconnect import ClientGone, DisconnectWatch
from gateway.streaming.meter import Meter
from gateway.streaming.relay import StreamConverter, relay_events
from gateway.upstream import UpstreamPool

log = logging.getLogger("gateway")


class Reply(Protocol):
    """How the upstream's answer reaches the client: `NativeReply` passes it on untouched,
    `TranslatedReply` re-encodes it in the client's API. Both keep the call's meter."""

    def whole(self, payload: bytes, meter: Meter) -> bytes: ...

    def stream(self, meter: Meter) -> StreamConverter: ...


class Proxy:
    """Sends a call upstream and relays the answer, racing it against the client leaving."""

    def __init__(
        self,
        pool: UpstreamPool,
        settings: Settings,
        on_finish: Callable[[Call], None],
        journal: Journal | NullJournal | None = None,
    ) -> None:
        self.pool = pool
        self.abort_on_disconnect = settings.abort_on_disconnect
        self.on_finish = on_finish
        self.journal = journal or NullJournal()
        self._drain_workloads = {w.name for w in settings.workloads if w.on_cancel == "drain"}
        self._drain_max = settings.drain_max_concurrent
        self._drain_timeout = settings.drain_timeout
        self.draining = 0

    async def handle(
        self, receive: Receive, send: Send, call: Call, plan: Plan, shape: ErrorShape
    ) -> None:
        """Run the call; the same race, abort and drain for every path, native or translated.
        Its attempts on the model's deployments (`plan`) are made until one answers, before
        the client has any byte of the answer."""
        watch = DisconnectWatch(
            receive, enabled=self.abort_on_disconnect, on_gone=call.meter.mark_client_gone
        )
        drained = False
        self.journal.begin(call)

        def drain() -> float | None:
            nonlocal drained
            if call.identity.workload not in self._drain_workloads:
                return None
            if self.draining >= self._drain_max:
                return None  # too many drains already: abort this one
            self.draining += 1
            drained = True
            return self._drain_timeout

        try:
            if call.mode == "stream":
                work = self._stream(send, call, plan, shape)
            else:
                work = self._unary(send, call, plan, shape)
            await watch.run(work, drain)
        except ClientGone as gone:
            call.cancel("client_disconnect", gone.abort_seconds)
        except asyncio.CancelledError:
            # The server stopped waiting for this call (the shutdown grace period ran out), or
            # a background response was cancelled: end the response cleanly in the caller's
            # shape instead of dropping the socket.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            call.cancel(call.cancel_reason or "shutdown", None)  # "explicit": a cancel asked
            self.journal.end(call)
            await _end_for_shutdown(send, call, shape)
        except Exception:
            log.exception("call %s on provider %r failed unexpectedly", call.id, call.provider)
            err = _unexpected(call)
            call.fail(err.status, err.message)
            await _end_with(send, call, shape, err)
        finally:
            plan.end(call)
            watch.stop()
            if drained:
                self.draining -= 1
            self.journal.end(call)  # cancelled or cut short: the outcome it finished with
            self.on_finish(call)

    async def _unary(self, send: Send, call: Call, plan: Plan, shape: ErrorShape) -> None:
        try:
            payload = await plan.first_answer(call, lambda attempt: self._fetch(call, attempt))
            payload = plan.reply.whole(payload, call.meter)
        except GatewayError as err:
            call.fail(err.status, err.message)
            self.journal.end(call)
            await send_error(send, err, shape)
            return
        self.journal.end(call)
        await send_response(send, 200, payload, JSON, call.headers)

    async def _fetch(self, call: Call, attempt: Attempt) -> bytes:
        """The whole answer of one attempt; an error status is the attempt's failure."""
        provider = attempt.provider
        _sent(call)
        with upstream_failures(provider):
            response = await attempt.first_byte(self.pool.send(provider, attempt.request))
            payload = await response.take()  # cut short (the caller left): not back to the pool
        if response.status >= 400:
            raise error_from_response(provider, response.status, payload, response.headers)
        return payload

    async def _stream(self, send: Send, call: Call, plan: Plan, shape: ErrorShape) -> None:
        response: Response | None = None
        try:
            try:
                opened, first = await plan.first_answer(
                    call, lambda attempt: self._open(call, attempt, plan.holds_headers)
                )
                response = opened
            except GatewayError as err:
                call.fail(err.status, err.message)
                self.journal.end(call)
                await send_error(send, err, shape)
                return
            await start_stream(send, call.headers)
            call.streaming_started = True
            converter = plan.reply.stream(call.meter)
            error = await relay_events(
                send, opened, converter, call.meter, plan.provider,
                lambda: self._ended(call), first,
            )
            reported = error or call.meter.error
            if reported is not None:
                call.fail(reported.status, reported.message)
            self.journal.end(call)
            if error is not None:
                await send_chunk(send, shape.stream_event(error))
            await send_chunk(send, b"", more=False)
        finally:
            if response is not None:
                if call.status == "completed" and response.content.at_eof():
                    response.release()
                else:
                    response.close()

    async def _open(
        self, call: Call, attempt: Attempt, hold: bool
    ) -> tuple[Response, bytes]:
        """One attempt's stream, open with HTTP 200; with `hold`, also its first bytes (the
        client's headers wait for them while another deployment may still be tried)."""
        provider = attempt.provider
        opened: list[Response] = []

        async def head() -> tuple[Response, bytes]:
            with upstream_failures(provider):
                response = await self.pool.send(provider, attempt.request)
                opened.append(response)
                if response.status != 200:
                    payload = await response.read()
                    raise error_from_response(
                        provider, response.status, payload, response.headers
                    )
                first = await response.content.readany() if hold else b""
            if hold and not first:
                raise UpstreamError(
                    f"provider {provider.name!r} ended the stream before sending anything"
                )
            return response, first

        _sent(call)
        try:
            return await attempt.first_byte(head())
        except BaseException:
            if opened:
                opened[0].close()
            raise

    def _ended(self, call: Call) -> None:
        """The stream's end (or error event) is about to be relayed: journal the outcome."""
        if call.meter.error is not None:
            call.fail(call.meter.error.status, call.meter.error.message)
        self.journal.end(call)


def _sent(call: Call) -> None:
    """The first attempt's moment of sending (the gateway's own time ends there)."""
    if call.meter.upstream_sent_at is None:
        call.meter.upstream_sent_at = time.perf_counter()


def _unexpected(call: Call) -> GatewayError:
    """What an exception nothing mapped means: once the request was sent, everything left is
    reading the provider's answer, so an answer of a shape the gateway cannot read is a 502."""
    if call.meter.upstream_sent_at is not None:
        return UpstreamError("the provider sent a response the gateway could not read")
    return GatewayError("the gateway hit an internal error; the call was not completed")


async def _end_for_shutdown(send: Send, call: Call, shape: ErrorShape) -> None:
    err = ShuttingDown("the gateway is shutting down; the call was cut short")
    await _end_with(send, call, shape, err)


async def _end_with(send: Send, call: Call, shape: ErrorShape, err: GatewayError) -> None:
    """End the response with `err`: an error event if the stream started, else the error."""
    if call.streaming_started:
        await send_chunk(send, shape.stream_event(err))
        await send_chunk(send, b"", more=False)
    else:
        await send_error(send, err, shape)


async def send_error(send: Send, err: GatewayError, shape: ErrorShape) -> None:
    headers = [(k.encode(), v.encode()) for k, v in err.headers.items()]
    await send_response(send, shape.status(err), shape.body(err), JSON, headers)
