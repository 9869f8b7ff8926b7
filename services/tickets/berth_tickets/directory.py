"""Who a person is, asked of auth's user directory with tickets' own machine client
(scope auth:read): the address a notification goes to, and whose a reply by email is."""

import uuid

import httpx
from loguru import logger

from berth_common.errors import ServiceUnavailable, TransientError
from berth_common.http import ServiceToken, make_http_client
from berth_tickets.config import TicketsSettings


class Directory:
    """One per process (the worker's event loop outlives tasks)."""

    def __init__(self, settings: TicketsSettings):
        self.settings = settings
        self._client: httpx.AsyncClient | None = None
        self._token: ServiceToken | None = None

    def _ready(self) -> tuple[httpx.AsyncClient, ServiceToken]:
        if self._client is None:
            self._client = make_http_client()
        if self._token is None:
            if not self.settings.client_id or not self.settings.client_secret:
                raise TransientError("TICKETS_CLIENT_ID/TICKETS_CLIENT_SECRET are not set")
            self._token = ServiceToken(
                f"{self.settings.auth_url.rstrip('/')}/oauth/token",
                self.settings.client_id,
                self.settings.client_secret.get_secret_value(),
                scope="auth:read",
            )
        return self._client, self._token

    async def email_of(self, user_id: uuid.UUID) -> str | None:
        """The person's address; None when auth does not know them (any more)."""
        client, token = self._ready()
        url = f"{self.settings.auth_url.rstrip('/')}/api/auth/v1/users/{user_id}"
        try:
            resp = await client.get(url, headers=await token.headers(client))
        except (httpx.HTTPError, ServiceUnavailable) as exc:
            raise TransientError(f"auth directory unreachable: {type(exc).__name__}") from exc
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            logger.warning("auth directory answered {} for a user lookup", resp.status_code)
            raise TransientError(f"auth directory answered {resp.status_code}")
        return resp.json().get("email")
