"""Moving-window rate limits per principal (user / machine client) or per client IP.

Counters live where GATEWAY_RATE_LIMIT_STORAGE_URL says: memory:// keeps them in this process
(berth_common.ratelimit), anything else is a `limits` storage (Redis, to share them between
gateway replicas). A storage outage lets requests through (the edge stays up) and is logged at most
once per interval.
"""

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from loguru import logger

from berth_common.errors import RateLimited
from berth_common.ratelimit import LocalMovingWindow, is_memory
from berth_common.security import Principal

OUTAGE_LOG_INTERVAL = 30.0


def async_storage_url(url: str) -> str:
    """`limits` names its asyncio storages "async+<scheme>"; accept the plain form too."""
    return url if url.startswith("async+") else f"async+{url}"


class RateLimiter:
    def __init__(self, storage_url: str, authenticated: str, anonymous: str) -> None:
        self.authenticated_limit: RateLimitItem = parse(authenticated)
        self.anonymous_limit: RateLimitItem = parse(anonymous)
        self._last_outage_log = 0.0
        self.windows: LocalMovingWindow | None = None
        self.storage: Storage | None = None
        url = async_storage_url(storage_url)
        if is_memory(url):
            self.windows = LocalMovingWindow()
            return
        storage = storage_from_string(url, wrap_exceptions=True)
        if not isinstance(storage, Storage):
            raise ValueError(f"not an asyncio rate-limit storage: {storage_url}")
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)
        self._outage_errors = (StorageError, OSError, *_as_tuple(storage.base_exceptions))

    async def hit(self, principal: Principal | None, client_ip: str) -> None:
        """Count one request; raise RateLimited (429, Retry-After) when over the limit."""
        if principal is None:
            item, identity = self.anonymous_limit, ("ip", client_ip)
        else:
            item, identity = self.authenticated_limit, (principal.kind, principal.subject)
        if self.windows is not None:
            # people, machine clients and addresses have one limit each: their kinds tell apart
            wait = self.windows.hit(item, identity)
            if wait is None:
                return
            raise RateLimited(f"Rate limit of {item} exceeded", retry_after=max(1, math.ceil(wait)))
        try:
            if await self.strategy.hit(item, "gateway", *identity):
                return
            stats = await self.strategy.get_window_stats(item, "gateway", *identity)
        except self._outage_errors as exc:
            self._log_outage(exc)
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(f"Rate limit of {item} exceeded", retry_after=retry_after)

    async def check(self) -> bool:
        return self.storage is None or await self.storage.check()

    def _log_outage(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_outage_log >= OUTAGE_LOG_INTERVAL:
            self._last_outage_log = now
            logger.warning("rate-limit storage unavailable, not limiting: {}", type(exc).__name__)


def _as_tuple(
    exceptions: type[BaseException] | tuple[type[BaseException], ...],
) -> tuple[type[BaseException], ...]:
    return exceptions if isinstance(exceptions, tuple) else (exceptions,)
