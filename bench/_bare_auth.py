"""auth's app without the platform's per-request middleware (request id, access log line,
metrics): what bench/auth_gateway.py measures `GET /me` against, to show that layer's cost.
Only for the bench: every deployed service keeps the middleware.

    uvicorn _bare_auth:create_app --factory --app-dir bench
"""

from fastapi import FastAPI

from berth_auth.main import create_app as create_auth_app
from berth_common.app import RequestContextMiddleware


def create_app() -> FastAPI:
    app = create_auth_app()
    app.user_middleware = [m for m in app.user_middleware if m.cls is not RequestContextMiddleware]
    return app
