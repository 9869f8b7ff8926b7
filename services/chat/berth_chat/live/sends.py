"""Group commit of the sockets' sends on one replica.

A send on a socket used to be a transaction of its own: a pooled connection, BEGIN, the
statement, COMMIT (three round trips, and a wait for the pool under load). Here every plain
send (a customer in their support conversation, staff in one they took) that arrives while
the previous batch is in PostgreSQL joins the next batch, and a batch is ONE call of
`chat.post_plain` outside a transaction block: one round trip and one commit for all of them.

What still holds: each message is committed with its conversation's next seq before its
sender hears the ack (the sender waits for its batch); the sends of one conversation keep
their arrival order in a batch; a retry (same client_msg_id) is never a second message. A
send the batch did not take (not a plain one, a retry) goes the full path in a transaction of
its own; if the batch call fails as a whole (nothing of it was kept: it is one statement),
each of its sends goes the full path alone, so one bad send costs only its own sender.
"""

import asyncio
import time
import uuid
from typing import Any

from loguru import logger

from berth_chat.conversations import service
from berth_chat.conversations.dao import PlainSend

#: at most this many sends in one call
BATCH_MAX = 256
#: a batch slower than this is logged (a checkpoint's fsyncs, a lock held elsewhere)
SLOW_BATCH_SECONDS = 1.0


class SendBatcher:
    def __init__(self, sessionmaker: Any, autocommit_sessionmaker: Any, max_chars: int):
        self.sessionmaker = sessionmaker
        self.autocommit_sessionmaker = autocommit_sessionmaker
        self.max_chars = max_chars
        self._pending: list[tuple[PlainSend, asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None
        #: the sizes of the batches sent so far (the tests and the metrics look at them)
        self.batches = 0
        self.batched_sends = 0

    async def post(
        self, conversation_id: uuid.UUID, actor: service.Actor, body: str, client_msg_id: str
    ) -> service.Posted:
        """Persist (committed) a socket's send; the same answers as `service.post`."""
        body = service.check_body(body, self.max_chars)
        send = service.plain_send(conversation_id, actor, body, client_msg_id)
        if send is not None:
            posted = await self._in_batch(send)
            if posted is not None:
                return posted
        async with self.sessionmaker() as session:
            posted = await service.post(
                session,
                conversation_id,
                actor,
                body,
                client_msg_id,
                self.max_chars,
                plain_tried=True,
            )
            await session.commit()  # edge: a socket send on the full path, its own transaction
        return posted

    async def _in_batch(self, send: PlainSend) -> service.Posted | None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[service.Posted | None] = loop.create_future()
        self._pending.append((send, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        """One batch at a time: what queued while one was in PostgreSQL is the next."""
        while self._pending:
            batch = self._pending[:BATCH_MAX]
            del self._pending[: len(batch)]
            try:
                results = await self._call([send for send, _ in batch])
            except BaseException:
                for _, done in batch:
                    if not done.done():
                        done.cancel()
                raise
            for (_, done), posted in zip(batch, results, strict=True):
                if not done.done():
                    done.set_result(posted)

    async def _call(self, sends: list[PlainSend]) -> list[service.Posted | None]:
        self.batches += 1
        self.batched_sends += len(sends)
        started = time.monotonic()
        try:
            async with self.autocommit_sessionmaker() as session:
                posted = await service.post_plain(session, sends)
        except Exception as exc:
            # one statement: nothing of the batch was kept; each send goes alone (the full
            # path), so the one that broke it fails alone and the others are kept once. The
            # error's name only: its text would carry the messages' bodies into the log
            logger.warning(
                "chat: a batch of {} sends failed ({}); each goes alone",
                len(sends),
                type(exc).__name__,
            )
            return [None] * len(sends)
        took = time.monotonic() - started
        if took > SLOW_BATCH_SECONDS:  # every sender of the replica waited that long
            logger.warning("chat: a batch of {} sends took {:.2f} s", len(sends), took)
        return posted

    async def stop(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            await asyncio.wait({self._flusher}, timeout=5)
