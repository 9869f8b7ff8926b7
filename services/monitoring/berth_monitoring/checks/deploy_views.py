"""Deploy's word on what should be running, asked once per run of checks: process liveness of
apps and the state of VPS machines (one GET each, with monitoring's machine token)."""

import asyncio
import uuid
from typing import Any

import httpx

from berth_common.errors import ServiceUnavailable
from berth_common.http import ServiceToken, make_http_client
from berth_monitoring.config import MonitoringSettings

# the machine token outlives a run (a run is seconds): cached per process until it expires
_TOKENS: dict[tuple[str, str], ServiceToken] = {}


def _service_token(settings: MonitoringSettings) -> ServiceToken:
    assert settings.client_id and settings.client_secret
    key = (settings.token_url, settings.client_id)
    if key not in _TOKENS:
        _TOKENS[key] = ServiceToken(
            settings.token_url,
            settings.client_id,
            settings.client_secret.get_secret_value(),
            scope="deploy:read",
        )
    return _TOKENS[key]


class LivenessView:
    """Deploy's process liveness, asked once per run for every app_process monitor in it."""

    def __init__(self, settings: MonitoringSettings):
        self.settings = settings
        self._client: httpx.AsyncClient | None = None
        self._token: ServiceToken | None = None
        self._items: dict[uuid.UUID, list[dict[str, Any]]] | None = None
        self._error: str | None = None
        self._lock = asyncio.Lock()

    async def items(self, path: str, what: str) -> tuple[list[dict[str, Any]] | None, str | None]:
        """The `items` deploy lists at `path` (its liveness API), or None and why not."""
        if not self.settings.client_id or not self.settings.client_secret:
            return None, "MONITORING_CLIENT_ID/SECRET are not set"
        if self._client is None:
            self._client = make_http_client()
        if self._token is None:
            self._token = _service_token(self.settings)
        url = f"{self.settings.deploy_url.rstrip('/')}/api/deploy/v1/{path}"
        try:
            resp = await self._client.get(url, headers=await self._token.headers(self._client))
        except (httpx.HTTPError, ServiceUnavailable) as exc:
            return None, f"deploy is unreachable ({type(exc).__name__})"
        if resp.status_code != 200:
            return None, f"deploy answered {resp.status_code} for {what}"
        return list(resp.json().get("items", [])), None

    async def _fetch(self) -> None:
        found, self._error = await self.items("liveness", "liveness")
        if found is None:
            return
        items: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for item in found:
            try:
                items.setdefault(uuid.UUID(str(item["app_id"])), []).append(item)
            except (KeyError, ValueError):
                continue
        self._items = items

    async def of_app(self, app_id: uuid.UUID) -> tuple[list[dict[str, Any]] | None, str | None]:
        async with self._lock:
            if self._items is None and self._error is None:
                await self._fetch()
        if self._items is None:
            return None, self._error
        return self._items.get(app_id, []), None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class VpsStateView:
    """Deploy's word on the VPS machines that should run, asked once per run."""

    def __init__(self, settings: MonitoringSettings, liveness: "LivenessView"):
        self.settings = settings
        self.liveness = liveness
        self._states: dict[uuid.UUID, str] | None = None
        self._error: str | None = None
        self._lock = asyncio.Lock()

    async def _fetch(self) -> None:
        found, self._error = await self.liveness.items("liveness/vps", "VPS liveness")
        if found is None:
            return
        states: dict[uuid.UUID, str] = {}
        for item in found:
            try:
                states[uuid.UUID(str(item["vps_id"]))] = str(item["state"])
            except (KeyError, ValueError):
                continue
        self._states = states

    async def of_vps(self, vps_id: uuid.UUID) -> tuple[str | None, str | None]:
        """(the machine's state, None) or (None, why deploy could not say)."""
        async with self._lock:
            if self._states is None and self._error is None:
                await self._fetch()
        if self._states is None:
            return None, self._error
        return self._states.get(vps_id, "not running"), None
