"""The ASGI application: routes, lifespan (upstream pool, ledger) and error rendering."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import __version__
from gateway.api import anthropic as anthropic_api
from gateway.api import batches as batches_api
from gateway.api import count_tokens, dashboard, ops, shapes
from gateway.api import files as files_api
from gateway.api import gemini as gemini_api
from gateway.api import message_batches as message_batches_api
from gateway.api import models as models_api
from gateway.api import openai as openai_api
from gateway.api import responses as responses_api
from gateway.api.admin import router as admin_router
from gateway.api.boundary import ErrorBoundary
from gateway.api.cors import CORSMiddleware
from gateway.api.hot import HotRoutes
from gateway.api.limits import BodyLimits
from gateway.api.request_id import RequestIdMiddleware
from gateway.api.scrub import ScrubMiddleware
from gateway.config import Settings
from gateway.defaults import SIM_MOUNT
from gateway.errors import BadRequest, GatewayError, NotFound
from gateway.ledger import LedgerSink
from gateway.ledger.service import Ledger
from gateway.redaction import Redactor, secrets_of
from gateway.shutdown import on_termination
from gateway.state import GatewayState

log = logging.getLogger("gateway")


def create_app(settings: Settings, ledger: LedgerSink | None = None) -> FastAPI:
    if ledger is None:
        ledger = Ledger(settings)  # the settings' database, with the spool beside it
    state = GatewayState(settings, ledger)
    if isinstance(ledger, Ledger):
        ledger.serve_keys_to(state.auth, state.limits.load_stored_keys)
    else:  # no key table: the config's keys are all there is
        state.auth.load_stored_keys({}, ever_stored=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.start()
        stop_watching = on_termination(state.begin_shutdown)
        if settings.simulator:
            log.info(
                "no provider credentials found: serving the built-in simulator's models (%s)",
                ", ".join(state.models),
            )
        try:
            yield
        finally:
            stop_watching()
            await state.close()

    app = _GatewayAPI(
        title="LLM inference gateway", version=__version__, lifespan=lifespan,
        docs_url=None, redoc_url=None,
    )
    app.state.gateway = state
    proxied = [
        *openai_api.routes(state),
        *anthropic_api.routes(state),
        *responses_api.routes(state),
        *models_api.routes(state),
        *count_tokens.routes(state),
        *gemini_api.routes(state),
    ]
    app.router.routes.extend(proxied)
    app.hot_routes = proxied
    app.include_router(ops.router)
    app.include_router(dashboard.router)
    app.include_router(admin_router)
    app.include_router(files_api.router)
    app.include_router(batches_api.router)
    app.include_router(message_batches_api.router)
    _install_error_handlers(app)
    app.edge = [  # outermost first; around everything, the hot routes included
        Middleware(ScrubMiddleware, redactor=Redactor(secrets_of(settings))),
        Middleware(ErrorBoundary),
        *([Middleware(CORSMiddleware, origins=settings.cors_allowed_origins)]  # preflights
          if settings.cors_allowed_origins else []),  # never reach the routes
        Middleware(BodyLimits, settings=settings),
        *([Middleware(_SimulatorMount)] if settings.simulator else []),
        Middleware(RequestIdMiddleware),
    ]
    return app


# FastAPI's outer layers, which the gateway's own middleware replaces: its error middleware
# (a plain-text 500, re-raised so uvicorn logs the traceback twice), native telemetry and body
# limit. Matched by name: the last two are private to FastAPI and absent in older versions.
_REPLACED_LAYERS = {"ServerErrorMiddleware", "ExceptionTelemetryMiddleware",
                    "AppBodyLimitMiddleware"}


class _GatewayAPI(FastAPI):
    """FastAPI inside the gateway's own middleware (`edge`), with the proxied APIs' exact
    routes dispatched before FastAPI's layers (`gateway.api.hot`)."""

    edge: list[Middleware] = []
    hot_routes: Sequence[BaseRoute] = ()

    def build_middleware_stack(self) -> ASGIApp:
        inner = super().build_middleware_stack()
        while type(inner).__name__ in _REPLACED_LAYERS and hasattr(inner, "app"):
            inner = inner.app
        app: ASGIApp = HotRoutes(inner, self.hot_routes)
        for cls, args, kwargs in reversed(self.edge):
            app = cls(app, *args, **kwargs)
        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """HTTP straight into the stack: FastAPI's per-request check for its native telemetry
        (which the gateway does not use) is skipped; lifespan and the rest go through it."""
        stack = self.middleware_stack
        if scope["type"] == "http" and stack is not None:
            scope["app"] = self
            await stack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class _SimulatorMount:
    """Serve the built-in simulator under /sim (pure ASGI; the path prefix is stripped)."""

    def __init__(self, app):  # type: ignore[no-untyped-def]
        from gateway.sim.app import create_sim_app
        from gateway.sim.options import SimOptions

        self.app = app
        self.sim = create_sim_app(SimOptions())

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(SIM_MOUNT + "/"):
            root = scope.get("root_path", "") + SIM_MOUNT
            scope = dict(scope, path=path[len(SIM_MOUNT):], raw_path=None, root_path=root)
            await self.sim(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, exc: GatewayError) -> Response:
        return _error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        param = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
        return _error_response(
            request, BadRequest(f"{param or 'request'}: {first.get('msg')}", param=param)
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc.__cause__, GatewayError):  # FastAPI wraps body-read failures in a 400
            return _error_response(request, exc.__cause__)
        if exc.status_code == 404:
            err: GatewayError = NotFound(f"no route {request.method} {request.url.path}")
        else:
            err = GatewayError(str(exc.detail), status=exc.status_code)
            err.type = "invalid_request_error"
        return _error_response(request, err)


def _error_response(request: Request, err: GatewayError) -> Response:
    """An error in the caller's API shape (`shapes.for_path`)."""
    shape = shapes.for_path(request.url.path)
    return Response(shape.body(err), status_code=shape.status(err), headers=err.headers,
                    media_type="application/json")


def app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory` and multi-worker serving: settings from the environment."""
    from gateway.config import load_settings

    return create_app(load_settings())
