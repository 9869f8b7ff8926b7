"""The gateway app: `uvicorn berth_gateway.main:create_app --factory --port 8100`."""

from fastapi import FastAPI
from loguru import logger
from starlette.types import ASGIApp

from berth_common.app import create_service_app
from berth_common.errors import ServiceUnavailable
from berth_common.revocation import Denylist
from berth_common.security import JWKSCache, TokenVerifier
from berth_common.service import RevocationSync
from berth_gateway.api import NO_APP_PATH, VerifyEdge, no_app_route, verify_route
from berth_gateway.config import GatewaySettings
from berth_gateway.policy import RoutePolicy
from berth_gateway.ratelimit import RateLimiter
from berth_gateway.service import Gatekeeper, VerifiedTokenCache

# Traefik logs every request already
QUIET_PATHS = frozenset({"/verify", NO_APP_PATH})


def create_app(
    settings: GatewaySettings | None = None,
    *,
    jwks: JWKSCache | None = None,
    denylist: Denylist | None = None,
) -> FastAPI:
    settings = settings or GatewaySettings()
    jwks = jwks or JWKSCache(settings.jwks_url, ttl_seconds=settings.jwks_cache_seconds)
    verifier = TokenVerifier(
        jwks,
        issuer=settings.issuer,
        audience=settings.token_audience,
        denylist=denylist if denylist is not None else Denylist(),
    )
    # revoked sessions, clients and users: from auth, kept current by its events
    revocations = RevocationSync(settings, verifier)
    limiter = None
    if settings.rate_limit_enabled:
        limiter = RateLimiter(
            settings.rate_limit_storage_url,
            authenticated=settings.rate_limit_authenticated,
            anonymous=settings.rate_limit_anonymous,
        )
    gatekeeper = Gatekeeper(
        RoutePolicy(),
        VerifiedTokenCache(verifier, settings.token_cache_seconds, settings.token_cache_size),
        limiter,
        origins=settings.platform_origins,
    )

    async def jwks_loaded() -> None:
        await jwks.key_set(None)

    async def load_jwks_early(_: FastAPI) -> None:
        # auth may start after us (one Procfile): keys then load on the first request
        try:
            await jwks.key_set(None)
        except ServiceUnavailable:
            logger.warning("token keys not loaded yet from {}", settings.jwks_url)

    app = create_service_app(
        settings,
        title="Berth gateway",
        ready_checks=[jwks_loaded, revocations.revocations_loaded],
        on_startup=[load_jwks_early, revocations.start],
        on_shutdown=[revocations.stop],
        quiet_paths=QUIET_PATHS,
        # nothing here is a public API: /verify is for Traefik only
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.router.routes[0:0] = [verify_route, no_app_route]
    build_stack = app.build_middleware_stack

    def build_stack_behind_verify() -> ASGIApp:
        # Starlette builds the stack on the first request: /verify is answered before all of it
        return VerifyEdge(build_stack(), service=settings.service_name, quiet_paths=QUIET_PATHS)

    app.build_middleware_stack = build_stack_behind_verify  # type: ignore[method-assign]
    app.state.gatekeeper = gatekeeper
    app.state.access_cookie = settings.access_cookie
    app.state.token_verifier = verifier
    return app
