"""The auth service's web process: `uvicorn berth_auth.main:create_app --factory`."""

from fastapi import FastAPI

from berth_auth.accounts.api import router as accounts_router
from berth_auth.admin.api import router as admin_router
from berth_auth.clients.api import router as clients_router
from berth_auth.config import AuthSettings, get_settings
from berth_auth.directory.api import router as directory_router
from berth_auth.models import SCHEMA, Base
from berth_auth.oauth.api import router as oauth_router
from berth_auth.revocations import service as revocations
from berth_auth.revocations.api import router as revocations_router
from berth_auth.tokens import LocalJWKS, SigningKeys
from berth_common.revocation import REVOCATIONS_PATH
from berth_common.security import TokenVerifier
from berth_common.service import build_service


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    SigningKeys.from_settings(settings)  # a broken key set stops startup, not the first login
    # auth is the issuer: it verifies bearer tokens with its own public keys, no JWKS fetch
    verifier = TokenVerifier(
        LocalJWKS(settings),
        issuer=settings.issuer,
        audience=settings.token_audience,
        cache_seconds=settings.token_cache_seconds,
        cache_size=settings.token_cache_size,
    )
    return build_service(
        settings,
        title="Berth auth",
        schema=SCHEMA,
        metadata=Base.metadata,
        routers=[
            oauth_router,
            clients_router,
            accounts_router,
            admin_router,
            directory_router,
            revocations_router,
        ],
        verifier=verifier,
        # auth is the source of the revocation list: it reads its own database
        revocations_from=revocations.loader(settings),
        # every token-checking process loads the list each minute: counted, not logged
        quiet_paths=frozenset({REVOCATIONS_PATH}),
        docs_prefix="/api/auth",
    )
