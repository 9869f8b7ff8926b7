"""Queries of agent conversations: the conversation under its row lock, messages numbered by
the conversation's next seq, agent requests, a notice's actions."""

import uuid
from typing import Any

from sqlalchemy import func, select

from berth_chat.models import AgentRequest, Conversation, Message, MessageActions
from berth_common.dao import BaseDAO


class ConversationDAO(BaseDAO[Conversation]):
    model = Conversation
    not_found_message = "Conversation not found"

    async def locked(self, conversation_id: uuid.UUID) -> Conversation | None:
        """The row under FOR UPDATE: its state and last_seq cannot change until commit."""
        stmt = (
            select(Conversation)
            .where(Conversation.id == conversation_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def open_agent_chats_of(self, customer_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(
            Conversation.customer_id == customer_id, Conversation.state != "closed"
        )
        return int((await self.session.execute(stmt)).scalar_one())


class MessageDAO(BaseDAO[Message]):
    model = Message
    not_found_message = "Message not found"

    async def append(self, conversation: Conversation, **values: Any) -> Message:
        """The conversation's next message; the caller holds the conversation's row lock."""
        conversation.last_seq += 1
        message = Message(conversation_id=conversation.id, seq=conversation.last_seq, **values)
        self.session.add(message)
        await self.session.flush()
        return message

    async def sent(
        self, conversation_id: uuid.UUID, sender_kind: str, sender_id: uuid.UUID, client_msg_id: str
    ) -> Message | None:
        return await self.get_by(
            conversation_id=conversation_id,
            sender_kind=sender_kind,
            sender_id=sender_id,
            client_msg_id=client_msg_id,
        )

    async def at(self, conversation_id: uuid.UUID, seq: int) -> Message | None:
        return await self.get_by(conversation_id=conversation_id, seq=seq)

    async def all_of(self, conversation_id: uuid.UUID, limit: int) -> list[Message]:
        stmt = (
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.seq)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def actions_of(self, message_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
        if not message_ids:
            return {}
        stmt = select(MessageActions).where(MessageActions.message_id.in_(message_ids))
        return {
            row.message_id: list(row.actions)
            for row in (await self.session.execute(stmt)).scalars()
        }

    async def offer(self, message: Message, actions: list[str]) -> None:
        self.session.add(MessageActions(message_id=message.id, actions=actions))
        await self.session.flush()


class AgentRequestDAO(BaseDAO[AgentRequest]):
    model = AgentRequest
    not_found_message = "Agent request not found"

    async def locked(self, request_id: uuid.UUID) -> AgentRequest | None:
        stmt = (
            select(AgentRequest)
            .where(AgentRequest.id == request_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalars().first()
