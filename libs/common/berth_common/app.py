"""The app factory every service uses: ids, logging, errors, health, readiness, metrics."""

import asyncio
import gc
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from berth_common.config import ServiceSettings
from berth_common.context import REQUEST_ID_HEADER, request_id_var, user_id_var
from berth_common.errors import install_error_handlers
from berth_common.logging import access_log, configure_logging
from berth_common.openapi import document_common_errors

# each shutdown hook gets this long; the lifespan as a whole is cut off by its server later
SHUTDOWN_HOOK_SECONDS = 8.0

REQUESTS = Counter(
    "berth_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
LATENCY = Histogram(
    "berth_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

ReadyCheck = Callable[[], Awaitable[None]]
Hook = Callable[[FastAPI], Awaitable[None]]


class RequestContextMiddleware:
    """Binds a request id (inbound X-Request-Id if sane, else new), logs one access line."""

    def __init__(self, app: ASGIApp, service: str, quiet_paths: frozenset[str] = frozenset()):
        self.app = app
        self.service = service
        # probes and hot internal paths (e.g. forwardAuth) are counted, not logged per request
        self.quiet_paths = frozenset({"/health", "/metrics", *quiet_paths})
        # the labelled series per (method, route, status), looked up once: labels() takes a lock
        # and checks its arguments on every call
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _observe(self, method: str, route: str, status: int, seconds: float) -> None:
        series = self._series.get((method, route, status))
        if series is None:
            series = (
                REQUESTS.labels(self.service, method, route, str(status)),
                LATENCY.labels(self.service, method, route),
            )
            self._series[(method, route, status)] = series
        series[0].inc()
        series[1].observe(seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for k, v in scope["headers"]:
            if k == b"x-request-id":
                incoming = v.decode("latin-1")
                break
        rid = incoming if _SAFE_ID.match(incoming) else os.urandom(16).hex()
        token = request_id_var.set(rid)
        user_token = user_id_var.set(None)
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (REQUEST_ID_HEADER.lower().encode(), rid.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self._observe(method, path, status, elapsed)
            if path not in self.quiet_paths:
                # a path parameter named token is a secret (push URLs, checkout links): the
                # log shows the route, not the request's path
                shown = path if "{token}" in path else scope.get("path", "")
                access_log.write(method, shown, status, round(elapsed * 1000, 2), path)
            user_id_var.reset(user_token)
            request_id_var.reset(token)


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    routers: Sequence[APIRouter] = (),
    ready_checks: Sequence[ReadyCheck] = (),
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    docs_prefix: str | None = None,
    quiet_paths: frozenset[str] = frozenset(),
    **fastapi_kwargs: Any,
) -> FastAPI:
    """A service's FastAPI app: logging, the common error shape, the probes (`/health`,
    `/ready` running `ready_checks`, `/metrics`), request context, the startup and shutdown
    hooks, and its routers; its docs under `docs_prefix` when given."""
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    docs: dict[str, Any] = {}
    if docs_prefix:
        docs = {
            "docs_url": f"{docs_prefix}/docs",
            "openapi_url": f"{docs_prefix}/openapi.json",
            "redoc_url": None,
        }
    lifespan = _lifespan(settings, on_startup, on_shutdown)
    # the platform's metrics are the Prometheus ones below; FastAPI's native OpenTelemetry would
    # otherwise look for configured providers on every request
    fastapi_kwargs.setdefault("telemetry", {"tracing": False, "metrics": False, "logs": False})
    app = FastAPI(title=title, lifespan=lifespan, **docs, **fastapi_kwargs)
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(_probes(settings, ready_checks))
    for router in routers:
        app.include_router(router)
    if docs_prefix:
        document_common_errors(app)
    app.add_middleware(
        RequestContextMiddleware, service=settings.service_name, quiet_paths=quiet_paths
    )
    return app


def _lifespan(
    settings: ServiceSettings, on_startup: Sequence[Hook], on_shutdown: Sequence[Hook]
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Startup hooks in order; shutdown hooks in reverse, each one run even if another fails."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for hook in on_startup:
            await hook(app)
        freeze_startup_objects()
        logger.info("{} started", settings.service_name)
        try:
            yield
        finally:
            for hook in reversed(on_shutdown):
                await _bounded_shutdown_hook(hook, app)

    return lifespan


_startup_frozen = False


def freeze_startup_objects() -> None:
    """Move what startup made (modules, routes, models, pools: ~160k objects in auth) out of
    the cyclic collector's sight, once per process. Each full collection would scan them all
    again, stopping the event loop for tens to hundreds of milliseconds: the latency tail."""
    global _startup_frozen
    if _startup_frozen:
        return
    _startup_frozen = True
    gc.collect()
    gc.freeze()


async def _bounded_shutdown_hook(hook: Hook, app: FastAPI) -> None:
    """Run one shutdown hook for at most SHUTDOWN_HOOK_SECONDS: a hook that hangs (a broker
    that never answers a close) is left behind, named in the log, and the next hooks still run,
    so a stopping process never waits on it forever."""
    name = getattr(hook, "__qualname__", repr(hook))
    task = asyncio.ensure_future(hook(app))
    done, _ = await asyncio.wait({task}, timeout=SHUTDOWN_HOOK_SECONDS)
    if not done:
        logger.error(
            "shutdown hook {} did not finish in {} s: left behind", name, SHUTDOWN_HOOK_SECONDS
        )
        task.cancel()
        return
    if not task.cancelled() and task.exception() is not None:
        logger.opt(exception=task.exception()).error("shutdown hook {} failed", name)


def _probes(settings: ServiceSettings, ready_checks: Sequence[ReadyCheck]) -> APIRouter:
    """The anonymous probes: liveness, readiness (every check, named when it fails), metrics."""
    probes = APIRouter(include_in_schema=False)

    @probes.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @probes.get("/ready")
    async def ready() -> JSONResponse:
        failures: dict[str, str] = {}
        for check in ready_checks:
            name = getattr(check, "__name__", "check")
            try:
                await check()
            except Exception as exc:
                failures[name] = type(exc).__name__
        if failures:
            return JSONResponse(
                {"error": {"code": "not_ready", "message": "Not ready", "details": failures}},
                status_code=503,
            )
        return JSONResponse({"status": "ready", "service": settings.service_name})

    @probes.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return probes
