"""Queries of conversations, their messages and read markers.

A customer's queries always filter on `customer_id`: another person's conversation is not found.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from berth_chat.models import SCHEMA, Conversation, Message, ReadMarker
from berth_common.dao import BaseDAO

#: plain sends, one or many, in one call (the function of migration 5b7e3c91a2d4: row lock,
#: who may post, seq, insert unless a retry, per send in conversation order)
POST_PLAIN = text(
    f"""
    SELECT ord, msg_seq, msg_id, msg_created_at, msg_updated_at
    FROM {SCHEMA}.post_plain(
        CAST(:conversation_ids AS uuid[]), CAST(:client_msg_ids AS varchar[]),
        CAST(:sender_kinds AS varchar[]), CAST(:sender_ids AS uuid[]), CAST(:bodies AS text[])
    )
    """  # noqa: S608 (the schema is a constant; every value is a bound parameter)
)


@dataclass(frozen=True)
class PlainSend:
    """One send for `post_plain`."""

    conversation_id: uuid.UUID
    client_msg_id: str
    sender_kind: str
    sender_id: uuid.UUID
    body: str


class ConversationDAO(BaseDAO[Conversation]):
    model = Conversation
    not_found_message = "Conversation not found"

    async def lock(self, conversation_id: uuid.UUID) -> Conversation | None:
        """The row under FOR UPDATE: sends, state changes and seq numbers of one conversation
        happen one after the other."""
        stmt = (
            select(Conversation)
            .where(Conversation.id == conversation_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def next_seq(self, conversation_id: uuid.UUID) -> int:
        """Raise last_seq by one and return it (the caller holds the row lock)."""
        stmt = (
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(last_seq=Conversation.last_seq + 1, updated_at=func.now())
            .returning(Conversation.last_seq)
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def post_plain(self, sends: Sequence[PlainSend]) -> list[tuple | None]:
        """Persist plain sends in one call, each with its conversation's next seq: per send
        (seq, id, created_at, updated_at), or None where it is not a plain send or is a retry
        (nothing kept for it). Outside a transaction block this is one round trip and one
        commit for all of them."""
        rows = await self.session.execute(
            POST_PLAIN,
            {
                "conversation_ids": [s.conversation_id for s in sends],
                "client_msg_ids": [s.client_msg_id for s in sends],
                "sender_kinds": [s.sender_kind for s in sends],
                "sender_ids": [s.sender_id for s in sends],
                "bodies": [s.body for s in sends],
            },
        )
        out: list[tuple | None] = [None] * len(sends)
        for ord_, seq, message_id, created_at, updated_at in rows:
            if seq is not None:
                out[ord_ - 1] = (seq, message_id, created_at, updated_at)
        return out

    async def last_seqs(self, conversation_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        """Each conversation's newest seq (one query for a replica's subscriptions)."""
        stmt = select(Conversation.id, Conversation.last_seq).where(
            Conversation.id.in_(conversation_ids)
        )
        return {row[0]: row[1] for row in (await self.session.execute(stmt)).all()}

    async def of_customer(self, customer_id: uuid.UUID, limit: int) -> Sequence[Conversation]:
        stmt = (
            select(Conversation)
            .where(Conversation.customer_id == customer_id)
            .order_by(Conversation.updated_at.desc(), Conversation.id)
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def open_ones(self, limit: int) -> Sequence[Conversation]:
        stmt = (
            select(Conversation)
            .where(Conversation.state != "closed", Conversation.kind == "support")
            .order_by(Conversation.updated_at.desc(), Conversation.id)
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def count_open_of(self, customer_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(
            Conversation.customer_id == customer_id, Conversation.state != "closed"
        )
        return (await self.session.execute(stmt)).scalar_one()


class MessageDAO(BaseDAO[Message]):
    model = Message
    not_found_message = "Message not found"

    async def by_client_msg_id(
        self,
        conversation_id: uuid.UUID,
        sender_kind: str,
        sender_id: uuid.UUID | None,
        client_msg_id: str,
    ) -> Message | None:
        stmt = select(Message).where(
            Message.conversation_id == conversation_id,
            Message.sender_kind == sender_kind,
            Message.sender_id.is_(None) if sender_id is None else Message.sender_id == sender_id,
            Message.client_msg_id == client_msg_id,
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def after(self, conversation_id: uuid.UUID, after_seq: int, limit: int) -> list[Message]:
        """Messages with seq > after_seq, oldest first (a replay page)."""
        stmt = (
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.seq > after_seq)
            .order_by(Message.seq)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def before(
        self, conversation_id: uuid.UUID, before_seq: int | None, limit: int
    ) -> list[Message]:
        """The page of history just before `before_seq` (the newest when None), oldest first."""
        stmt = select(Message).where(Message.conversation_id == conversation_id)
        if before_seq is not None:
            stmt = stmt.where(Message.seq < before_seq)
        stmt = stmt.order_by(Message.seq.desc()).limit(limit)
        return list(reversed((await self.session.execute(stmt)).scalars().all()))


class ReadMarkerDAO(BaseDAO[ReadMarker]):
    model = ReadMarker

    async def advance(self, conversation_id: uuid.UUID, participant_id: uuid.UUID, seq: int) -> int:
        """Move the marker forward to seq (never back); returns the marker now."""
        stmt = (
            pg_insert(ReadMarker)
            .values(
                conversation_id=conversation_id, participant_id=participant_id, last_read_seq=seq
            )
            .on_conflict_do_update(
                index_elements=[ReadMarker.conversation_id, ReadMarker.participant_id],
                set_={
                    "last_read_seq": func.greatest(ReadMarker.last_read_seq, seq),
                    "updated_at": func.now(),
                },
            )
            .returning(ReadMarker.last_read_seq)
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def of_conversation(self, conversation_id: uuid.UUID) -> dict[uuid.UUID, int]:
        stmt = select(ReadMarker.participant_id, ReadMarker.last_read_seq).where(
            ReadMarker.conversation_id == conversation_id
        )
        return {row[0]: row[1] for row in (await self.session.execute(stmt)).all()}
