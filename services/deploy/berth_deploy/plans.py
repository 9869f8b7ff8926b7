"""Billing's plans as deploy needs them: how many apps on a plan one person may have.

Billing owns the number (`max_apps_per_owner` of each plan, in its public plan list); deploy
asks for the list over HTTP and keeps it DEPLOY_PLAN_CACHE_SECONDS, asking again at once for a
plan it has not seen (an admin just made it). When billing cannot answer, its last answer
stands; when it never answered, or does not know the plan, DEPLOY_APP_QUOTA_FALLBACK does.

Neither open nor closed on failure, but bounded: refusing every new app while billing is away
would turn a billing outage into a deploy outage, and an unlimited quota would be exactly what
someone who can slow billing down wants. A small fallback keeps people able to start while
bounding what anyone can take meanwhile.
"""

import asyncio
import time
from dataclasses import dataclass
from typing import Literal

import httpx
from loguru import logger

from berth_common.http import make_http_client
from berth_deploy.config import DeploySettings

PLANS_PATH = "/api/billing/v1/plans"
# after a failed or fresh request, the next one waits this long (no storm on a sick billing)
RETRY_SECONDS = 2.0


@dataclass(frozen=True)
class AppQuota:
    plan_key: str
    max_apps: int
    source: Literal["billing", "fallback"]


class PlanCatalog:
    """One per web process: the plan limits billing gave last, and when."""

    def __init__(self, settings: DeploySettings, client: httpx.AsyncClient | None = None):
        self.settings = settings
        self._client = client
        self._limits: dict[str, int] = {}
        # each plan's price of the current hour and its currency, as billing said last
        self._prices: dict[str, tuple[int | None, str | None]] = {}
        self._fetched_at: float | None = None
        self._asked_at: float | None = None
        self._lock = asyncio.Lock()

    async def app_quota(self, plan_key: str) -> AppQuota:
        if plan_key not in self._limits or self._stale():
            await self._refresh()
        if plan_key in self._limits:
            return AppQuota(plan_key, self._limits[plan_key], "billing")
        return AppQuota(plan_key, self.settings.app_quota_fallback, "fallback")

    async def prices(self) -> dict[str, tuple[int | None, str | None]]:
        """plan key -> (price of the current hour, currency); {} when billing never answered."""
        if self._stale():
            await self._refresh()
        return dict(self._prices)

    def _stale(self) -> bool:
        return (
            self._fetched_at is None
            or time.monotonic() - self._fetched_at > self.settings.plan_cache_seconds
        )

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = make_http_client(
                timeout=httpx.Timeout(self.settings.billing_timeout_seconds)
            )
        return self._client

    async def _refresh(self) -> None:
        async with self._lock:
            if self._asked_at is not None and time.monotonic() - self._asked_at < RETRY_SECONDS:
                return  # asked a moment ago (maybe by the request this one waited for)
            self._asked_at = time.monotonic()
            url = self.settings.billing_url.rstrip("/") + PLANS_PATH
            try:
                resp = await self._http().get(url)
                resp.raise_for_status()
                plans = resp.json()
                limits = {str(p["key"]): int(p["max_apps_per_owner"]) for p in plans}
                prices = {
                    str(p["key"]): (p.get("amount_per_hour"), p.get("currency")) for p in plans
                }
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                have = "its last answer" if self._limits else "the fallback"
                logger.warning(
                    "billing's plan list unavailable ({}): app quotas use {}",
                    type(exc).__name__,
                    have,
                )
                return
            self._limits = limits
            self._prices = prices
            self._fetched_at = time.monotonic()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
