"""Calling other services: one shared async client per process (timeouts, connection reuse,
the request id propagated) and client-credentials tokens for a service's own identity."""

import asyncio
import time

import httpx

from berth_common.context import correlation_headers
from berth_common.errors import ServiceUnavailable

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
# idle connections are dropped before the services' uvicorn closes them (its keep-alive is
# 5 s): with equal timers a request could go out on a connection the server was closing and
# fail with RemoteProtocolError (seen as a frontend 503 in a browser test)
KEEPALIVE_EXPIRY_SECONDS = 3.0


async def _propagate_request_id(request: httpx.Request) -> None:
    for key, value in correlation_headers().items():
        request.headers.setdefault(key, value)


def make_http_client(**kwargs) -> httpx.AsyncClient:
    """The process's client to other services; create once (lifespan), close on shutdown."""
    kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
    kwargs.setdefault(
        "limits",
        httpx.Limits(
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
        ),
    )
    hooks = kwargs.pop("event_hooks", {})
    hooks.setdefault("request", []).append(_propagate_request_id)
    return httpx.AsyncClient(event_hooks=hooks, **kwargs)


class ServiceToken:
    """An access token for this service's own machine client (client_credentials),
    cached until shortly before it expires."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: str = ""):
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self, client: httpx.AsyncClient) -> str:
        if self._token and time.monotonic() < self._expires_at:
            return self._token
        async with self._lock:
            if self._token and time.monotonic() < self._expires_at:
                return self._token
            data = {"grant_type": "client_credentials"}
            if self.scope:
                data["scope"] = self.scope
            try:
                resp = await client.post(
                    self.token_url, data=data, auth=(self.client_id, self.client_secret)
                )
            except httpx.HTTPError as exc:
                raise ServiceUnavailable("Auth service unreachable") from exc
            if resp.status_code != 200:
                raise ServiceUnavailable(f"Service token refused ({resp.status_code})")
            body = resp.json()
            self._token = body["access_token"]
            self._expires_at = time.monotonic() + max(5, int(body.get("expires_in", 60)) - 30)
            return self._token

    async def headers(self, client: httpx.AsyncClient) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.get(client)}"}
