"""Static assets with cache headers: fingerprinted URLs (`?v=<content hash>`) are immutable
for a year; anything else may be cached briefly."""

import hashlib
from functools import lru_cache
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"


class AssetFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            versioned = b"v=" in scope.get("query_string", b"")
            response.headers["Cache-Control"] = IMMUTABLE if versioned else SHORT
        return response


@lru_cache(maxsize=256)
def _fingerprint(path: str, mtime_ns: int) -> str:
    return hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:12]


def static_url(path: str) -> str:
    """`/static/<path>?v=<hash>`: a new build gets a new URL, so clients never see stale files."""
    file = STATIC_DIR / path
    try:
        return f"/static/{path}?v={_fingerprint(path, file.stat().st_mtime_ns)}"
    except OSError:
        return f"/static/{path}"
