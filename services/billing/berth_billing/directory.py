"""Who an account holder is, asked of auth's user directory with billing's own token."""

import uuid

import httpx

from berth_billing.config import BillingSettings
from berth_common.directory import directory_token, lookup_user
from berth_common.http import ServiceToken, make_http_client


class Directory:
    """One per process (the worker's event loop outlives tasks)."""

    def __init__(self, settings: BillingSettings):
        self.settings = settings
        self._client: httpx.AsyncClient | None = None
        self._token: ServiceToken | None = None

    def _ready(self) -> tuple[httpx.AsyncClient, ServiceToken]:
        if self._client is None:
            self._client = make_http_client()
        if self._token is None:
            s = self.settings
            self._token = directory_token(s.token_url, s.client_id, s.client_secret, "BILLING")
        return self._client, self._token

    async def email_of(self, user_id: uuid.UUID) -> str | None:
        """The user's address; None when auth does not know the user (any more)."""
        client, token = self._ready()
        found = await lookup_user(client, token, self.settings.auth_url, user_id)
        return found.get("email") if found is not None else None

    def reset(self) -> None:
        self._client = None
        self._token = None
