"""The proxied APIs' exact routes, dispatched before FastAPI's own layers.

FastAPI wraps every request in its error, telemetry, body-limit and exit-stack middleware and
then walks its router's regexes; the raw ASGI endpoints of the proxied APIs use none of that
(they render their own errors; the gateway's middleware around them does the rest). A request
for one of their exact paths and methods goes straight to the endpoint; everything else (admin,
files, batches, parametrised paths, a wrong method's 405) goes on to FastAPI.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send


class HotRoutes:
    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self.endpoints: dict[tuple[str, str], ASGIApp] = {
            (route.path, method): route.app
            for route in routes
            if isinstance(route, Route) and "{" not in route.path
            for method in route.methods or ()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self.endpoints.get((scope["path"], scope["method"]))
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self.app(scope, receive, send)
