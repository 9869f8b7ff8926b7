"""Queries of conversations, their messages and read markers."""

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from berth_chat.models import Message
from berth_common.dao import BaseDAO

#: retention deletes at most this many messages per transaction
PURGE_BATCH = 5000


class MessageDAO(BaseDAO[Message]):
    model = Message
    not_found_message = "Message not found"

    async def purge_older_than(self, retention_days: int, now: datetime) -> int:
        """Delete up to PURGE_BATCH messages created before now - retention_days; returns how
        many. A conversation keeps its last_seq, so seqs are never reused after a purge."""
        cutoff = now - timedelta(days=retention_days)
        old = (
            select(Message.id)
            .where(Message.created_at < cutoff)
            .limit(PURGE_BATCH)
            .scalar_subquery()
        )
        result = await self.session.execute(
            delete(Message).where(Message.id.in_(old)).returning(Message.id)
        )
        return len(result.all())
