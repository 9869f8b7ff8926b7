"""Every query of attachments: who may see a ticket, what a message or note carries."""

import uuid

from sqlalchemy import func, select

from berth_common.dao import BaseDAO
from berth_tickets.models import (
    Attachment,
    DepartmentAgent,
    InternalNote,
    NoteAttachment,
    Ticket,
    TicketMessage,
)


class AttachmentDAO(BaseDAO[Attachment]):
    model = Attachment
    not_found_message = "No such attachment"

    async def ticket(self, ticket_id: uuid.UUID) -> Ticket | None:
        return await self.session.get(Ticket, ticket_id)

    async def is_department_agent(self, department_id: uuid.UUID, agent_id: uuid.UUID) -> bool:
        stmt = select(DepartmentAgent.agent_id).where(
            DepartmentAgent.department_id == department_id, DepartmentAgent.agent_id == agent_id
        )
        return (await self.session.execute(stmt)).first() is not None

    async def message(self, ticket_id: uuid.UUID, message_id: uuid.UUID) -> TicketMessage | None:
        stmt = select(TicketMessage).where(
            TicketMessage.id == message_id, TicketMessage.ticket_id == ticket_id
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def note(self, ticket_id: uuid.UUID, note_id: uuid.UUID) -> InternalNote | None:
        stmt = select(InternalNote).where(
            InternalNote.id == note_id, InternalNote.ticket_id == ticket_id
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def count_on_message(self, message_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(Attachment.message_id == message_id)
        return (await self.session.execute(stmt)).scalar_one()

    async def count_on_note(self, note_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(NoteAttachment.note_id == note_id)
        return (await self.session.execute(stmt)).scalar_one()

    async def link_to_note(self, attachment_id: uuid.UUID, note_id: uuid.UUID) -> None:
        self.session.add(NoteAttachment(attachment_id=attachment_id, note_id=note_id))
        await self.session.flush()

    async def public_of_ticket(self, ticket_id: uuid.UUID) -> list[Attachment]:
        """The files of the ticket's public messages: what its customer may see."""
        stmt = (
            select(Attachment)
            .where(Attachment.ticket_id == ticket_id, Attachment.message_id.is_not(None))
            .order_by(Attachment.created_at, Attachment.id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def all_of_ticket(
        self, ticket_id: uuid.UUID
    ) -> list[tuple[Attachment, uuid.UUID | None]]:
        """Every file of the ticket with the note it belongs to, if any (staff)."""
        stmt = (
            select(Attachment, NoteAttachment.note_id)
            .outerjoin(NoteAttachment, NoteAttachment.attachment_id == Attachment.id)
            .where(Attachment.ticket_id == ticket_id)
            .order_by(Attachment.created_at, Attachment.id)
        )
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    async def note_of(self, attachment_id: uuid.UUID) -> uuid.UUID | None:
        stmt = select(NoteAttachment.note_id).where(NoteAttachment.attachment_id == attachment_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()
