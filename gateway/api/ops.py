"""Operations routes: /healthz, /readyz, /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from gateway.metrics import render

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """Liveness: the process is serving."""
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> Response:
    """Readiness: started and not shutting down, with the ledger's state."""
    state = request.app.state.gateway
    checks = await state.readiness()
    ready = all(checks.values())
    return JSONResponse({"status": "ok" if ready else "unavailable", "checks": checks},
                        status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus text format; needs the metrics token when `metrics_token` is set."""
    request.app.state.gateway.auth.authorize_metrics(request.scope)
    body, content_type = render()
    return Response(body, media_type=content_type)
