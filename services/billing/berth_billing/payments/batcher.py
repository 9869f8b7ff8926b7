"""The web process's edge for provider webhooks: concurrent deliveries share transactions.

Each delivery is verified on its own (signature, body), then waits for a lane: up to `lanes`
transactions run at once, each applying every event that was waiting when it began (up to
`max_batch`) with payments/webhooks.py's fixed set of statements, then committing. So a
transaction's round trips and its commit's flush are paid once per batch, not per event,
and the batch grows by itself with the load (no timer: a lone event goes at once).

A delivery is answered only after its batch committed: a provider that got its 2xx has the
credit stored, and a process that dies mid-batch has stored none of it (the provider
retries). A batch that fails (a database error, a deadlock) is retried one event per
transaction, so one bad event fails only its own delivery.
"""

import asyncio
from typing import Any

from loguru import logger

from berth_billing.config import BillingSettings
from berth_billing.payments.provider import ProviderEvent
from berth_billing.payments.webhooks import apply_events
from berth_common.errors import ServiceUnavailable


class WebhookBatcher:
    def __init__(
        self,
        state: Any,
        settings: BillingSettings,
        provider: str,
    ) -> None:
        # `state` is the app's: its db and outbox relay are set when the app starts
        self._state = state
        self._settings = settings
        self._provider = provider
        self._lanes = settings.webhook_batch_lanes
        self._max_batch = settings.webhook_batch_max
        self._waiting: list[tuple[ProviderEvent, asyncio.Future[str]]] = []
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, event: ProviderEvent) -> str:
        """What became of `event`, once its batch committed."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting.append((event, future))
        self._start_lanes()
        return await future

    def _start_lanes(self) -> None:
        while self._waiting and len(self._running) < self._lanes:
            batch, self._waiting = (
                self._waiting[: self._max_batch],
                self._waiting[self._max_batch :],
            )
            task = asyncio.create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._lane_done)

    def _lane_done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._start_lanes()

    async def _run(self, batch: list[tuple[ProviderEvent, asyncio.Future[str]]]) -> None:
        try:
            try:
                outcomes = await self._transaction([event for event, _ in batch])
            except Exception:
                if len(batch) == 1:
                    raise
                logger.warning("a webhook batch of {} failed: each event alone", len(batch))
                for item in batch:
                    await self._run([item])
                return
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        finally:  # cancelled (shutdown): the deliveries fail, the provider retries
            for _, future in batch:
                if not future.done():
                    future.set_exception(ServiceUnavailable("The webhook was not processed; retry"))

    async def _transaction(self, events: list[ProviderEvent]) -> list[str]:
        async with self._state.db.sessionmaker() as session:
            async with session.begin():  # edge: a webhook batch's transaction
                outcomes = await apply_events(session, self._settings, self._provider, events)
            # committed: the outbox rows go to the broker now; the relay loop sends the rest
            pending: list[Any] = session.info.pop("outbox_pending", [])
            relay = getattr(self._state, "outbox_relay", None)
            if pending and relay is not None:
                await relay.publish_now(pending)
        return outcomes
