"""The frontend's web process: `uvicorn berth_frontend.main:create_app --factory`.

Server-rendered pages over the other services' APIs; nothing persistent of its own.
"""

from fastapi import Depends, FastAPI

from berth_common.app import create_service_app
from berth_common.http import make_http_client
from berth_common.service import RevocationSync, make_verifier
from berth_frontend.config import FrontendSettings, get_settings
from berth_frontend.registry import ROUTERS, SCREENS
from berth_frontend.support.uploads import MAX_FORM_BYTES, UPLOAD_PATHS
from berth_frontend.web.access import ensure_guarded
from berth_frontend.web.backends import Backends
from berth_frontend.web.csrf import verify_csrf
from berth_frontend.web.errors import install_error_pages
from berth_frontend.web.screens import ScreenRegistry
from berth_frontend.web.security import BodyLimitMiddleware, SecurityHeadersMiddleware
from berth_frontend.web.session import CookieMiddleware, Sessions
from berth_frontend.web.static import STATIC_DIR, AssetFiles
from berth_frontend.web.templating import make_templates


def create_app(settings: FrontendSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    http = make_http_client()
    backends = Backends(
        http,
        auth=settings.auth_url,
        deploy=settings.deploy_url,
        billing=settings.billing_url,
        monitoring=settings.monitoring_url,
        tickets=settings.tickets_url,
        chat=settings.chat_url,
    )
    verifier = make_verifier(settings)
    revocations = RevocationSync(settings, verifier)

    async def auth_keys() -> None:
        await verifier.jwks.key_set(None)

    async def close_http(_: FastAPI) -> None:
        await http.aclose()

    app = create_service_app(
        settings,
        title="Berth frontend",
        routers=ROUTERS,
        ready_checks=[auth_keys, revocations.revocations_loaded],
        on_startup=[revocations.start],
        on_shutdown=[revocations.stop, close_http],
        dependencies=[Depends(verify_csrf)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.backends = backends
    app.state.token_verifier = verifier
    app.state.sessions = Sessions(settings, backends, verifier)
    app.state.templates = make_templates()
    app.state.screens = ScreenRegistry(SCREENS)
    install_error_pages(app)

    ensure_guarded(app)
    app.mount("/static", AssetFiles(directory=STATIC_DIR, check_dir=False), name="static")
    app.add_middleware(CookieMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(
        BodyLimitMiddleware, upload_paths=UPLOAD_PATHS, upload_max_bytes=MAX_FORM_BYTES
    )
    return app
