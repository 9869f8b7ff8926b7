"""A moving window of `limits`, kept in this process, for the `memory://` storage.

`limits`' asyncio memory storage starts an expiry pass on nearly every hit and sends work to
a worker thread per key (its sync storage sweeps every key in a timer thread): measured under
load, a quarter of a chat replica's CPU and a third of the gateway's. Counters that live in
one process anyway need none of that: per key, the times of its last admitted hits, and a
sweep of the keys gone quiet now and then. Redis and other shared storages still go through
`limits`.
"""

import time
from collections import deque
from collections.abc import Hashable

from limits import RateLimitItem

#: how often the keys with nothing left inside their window are forgotten
SWEEP_SECONDS = 10.0


def is_memory(storage_url: str) -> bool:
    return storage_url.removeprefix("async+").startswith("memory://")


class LocalMovingWindow:
    """The same rule as `limits`' moving window: a hit is admitted while fewer than `amount`
    hits of the key were admitted in the last `expiry` seconds; a refusal counts nothing."""

    def __init__(self) -> None:
        self.hits: dict[Hashable, tuple[float, deque[float]]] = {}
        self._next_sweep = time.monotonic() + SWEEP_SECONDS

    def hit(self, item: RateLimitItem, key: Hashable) -> float | None:
        """Count one hit of `key`; None when admitted, else the seconds until it has room."""
        now = time.monotonic()
        if now >= self._next_sweep:
            self._sweep(now)
        length = float(item.get_expiry())
        if item.amount <= 0:
            return length
        window = self.hits.get(key)
        if window is None:
            window = self.hits[key] = (length, deque())
        admitted = window[1]
        while admitted and admitted[0] <= now - length:
            admitted.popleft()
        if len(admitted) >= item.amount:
            return admitted[0] + length - now
        admitted.append(now)
        return None

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + SWEEP_SECONDS
        quiet = [key for key, (length, hits) in self.hits.items() if hits[-1] <= now - length]
        for key in quiet:
            del self.hits[key]
