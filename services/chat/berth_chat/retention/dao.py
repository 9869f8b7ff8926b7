"""Queries of retention: customers' tiers, and old messages per tier."""

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import any_, delete, func, or_, select

from berth_chat.models import AccountTiers, Conversation, Message
from berth_common.dao import BaseDAO
from berth_common.tiers import DEFAULT_TIER, TierChange, record_change, tier_of

#: retention deletes at most this many messages per transaction
PURGE_BATCH = 5000


class RetentionDAO(BaseDAO[Message]):
    model = Message

    async def record_tier(self, change: TierChange) -> bool:
        return await record_change(self.session, AccountTiers, change)

    async def tier_of(self, customer_id: uuid.UUID) -> str:
        return await tier_of(self.session, AccountTiers, customer_id)

    async def purge(
        self, cutoff: datetime, *, tiers: Collection[str] = (), other_than: Collection[str] = ()
    ) -> int:
        """Delete up to PURGE_BATCH messages created before `cutoff` in conversations of
        customers on one of `tiers`, or (with `other_than`) on any tier but those; returns how
        many. Customers billing never announced are on DEFAULT_TIER.

        Driven from the conversations (customer index) into each one's messages by
        (conversation_id, created_at), so messages other tiers keep are never read. A
        conversation keeps its last_seq, so seqs are never reused after a purge."""
        tier = AccountTiers.c.tier
        if other_than:
            on_tier = or_(tier.not_in(other_than), tier.is_(None))
            if DEFAULT_TIER in other_than:
                on_tier = tier.not_in(other_than)
        else:
            on_tier = tier.in_(tiers)
            if DEFAULT_TIER in tiers:
                on_tier = or_(on_tier, tier.is_(None))
        old = (
            select(Message.id)
            .select_from(Conversation)
            .outerjoin(AccountTiers, AccountTiers.c.owner_id == Conversation.customer_id)
            .join(
                Message,
                (Message.conversation_id == Conversation.id) & (Message.created_at < cutoff),
            )
            .where(on_tier)
            .limit(PURGE_BATCH)
            .scalar_subquery()
        )
        # = ANY(ARRAY(...)): the batch's ids first, then each by its primary key (an IN over
        # the subquery let the planner hash-join it against a scan of every message)
        result = await self.session.execute(
            delete(Message).where(Message.id == any_(func.array(old))).returning(Message.id)
        )
        return len(result.all())
