"""Attachments' rules: who may see a ticket's files, what may be attached where.

- A ticket's files are seen by its owner, by admins, and by support staff of its department
  (its agents) or its assignee; anyone else is refused (403).
- The owner sees only files of public messages (`message_id` set); files of internal notes
  and anything not on a public message do not exist for them (404).
- A file is attached to a message or note its uploader wrote, within ATTACH_WINDOW of
  writing it, at most `attachments_per_item` per message or note; not on a merged ticket.
- The bytes are stored first under a random key, then the row is written: a failed write
  deletes the bytes again.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import Conflict, Forbidden, NotFound
from berth_common.security import Principal, user_id_of
from berth_tickets.attachments.content import safe_filename, sniff
from berth_tickets.attachments.dao import AttachmentDAO
from berth_tickets.attachments.multipart import Upload
from berth_tickets.attachments.settings import AttachmentSettings
from berth_tickets.attachments.storage import Storage, new_key
from berth_tickets.enums import TicketStatus
from berth_tickets.models import Attachment, Ticket

ATTACH_WINDOW = timedelta(hours=1)


class View(StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"


class TooManyFiles(Conflict):
    code = "too_many_attachments"


@dataclass(frozen=True)
class Access:
    ticket: Ticket
    view: View
    user_id: uuid.UUID


async def access(session: AsyncSession, principal: Principal, ticket_id: uuid.UUID) -> Access:
    """How `principal` sees the ticket; NotFound when there is none, Forbidden when they
    may not see it."""
    dao = AttachmentDAO(session)
    ticket = await dao.ticket(ticket_id)
    if ticket is None:
        raise NotFound("No such ticket")
    user_id = user_id_of(principal)
    if principal.is_admin:
        return Access(ticket, View.STAFF, user_id)
    if principal.has_role("support") and (
        ticket.assignee_id == user_id
        or await dao.is_department_agent(ticket.department_id, user_id)
    ):
        return Access(ticket, View.STAFF, user_id)
    if ticket.owner_id == user_id:
        return Access(ticket, View.CUSTOMER, user_id)
    raise Forbidden("You may not see this ticket's files.")


def _recent(written_at: datetime) -> bool:
    return datetime.now(UTC) - written_at <= ATTACH_WINDOW


async def _store(
    session: AsyncSession,
    storage: Storage,
    granted: Access,
    upload: Upload,
    message_id: uuid.UUID | None,
) -> Attachment:
    content_type = sniff(upload.head)  # refuses before a byte is stored
    key = new_key()
    await storage.put(key, upload.spool)
    try:
        return await AttachmentDAO(session).create(
            ticket_id=granted.ticket.id,
            message_id=message_id,
            uploader_id=granted.user_id,
            filename=safe_filename(upload.filename, content_type),
            content_type=content_type,
            size_bytes=upload.size,
            sha256=upload.sha256,
            storage_key=key,
        )
    except BaseException:
        await storage.delete(key)
        raise


def _attachable(ticket: Ticket) -> None:
    if ticket.status == TicketStatus.MERGED:
        raise Conflict("This ticket was merged into another: attach files there.")


async def attach_to_message(
    session: AsyncSession,
    storage: Storage,
    settings: AttachmentSettings,
    principal: Principal,
    ticket_id: uuid.UUID,
    message_id: uuid.UUID,
    read: Callable[[], Awaitable[Upload]],
) -> Attachment:
    """Checks who and where first, then reads the body (`read`), then stores."""
    granted = await access(session, principal, ticket_id)
    _attachable(granted.ticket)
    dao = AttachmentDAO(session)
    message = await dao.message(ticket_id, message_id)
    if message is None:
        raise NotFound("No such message on this ticket")
    if message.author_id != granted.user_id or not _recent(message.created_at):
        raise Forbidden("Files go with a message you have just written.")
    if await dao.count_on_message(message_id) >= settings.attachments_per_item:
        raise TooManyFiles(f"A message carries at most {settings.attachments_per_item} files.")
    upload = await read()
    try:
        return await _store(session, storage, granted, upload, message_id)
    finally:
        upload.close()


async def attach_to_note(
    session: AsyncSession,
    storage: Storage,
    settings: AttachmentSettings,
    principal: Principal,
    ticket_id: uuid.UUID,
    note_id: uuid.UUID,
    read: Callable[[], Awaitable[Upload]],
) -> tuple[Attachment, uuid.UUID]:
    granted = await access(session, principal, ticket_id)
    if granted.view is not View.STAFF:
        raise Forbidden("Internal notes are for the ticket's support staff.")
    _attachable(granted.ticket)
    dao = AttachmentDAO(session)
    note = await dao.note(ticket_id, note_id)
    if note is None:
        raise NotFound("No such note on this ticket")
    if note.author_id != granted.user_id or not _recent(note.created_at):
        raise Forbidden("Files go with a note you have just written.")
    if await dao.count_on_note(note_id) >= settings.attachments_per_item:
        raise TooManyFiles(f"A note carries at most {settings.attachments_per_item} files.")
    upload = await read()
    try:
        stored = await _store(session, storage, granted, upload, None)
    finally:
        upload.close()
    await dao.link_to_note(stored.id, note_id)
    return stored, note_id


async def public_files(
    session: AsyncSession, principal: Principal, ticket_id: uuid.UUID
) -> list[Attachment]:
    """The files of the ticket's public messages (what its customer sees)."""
    await access(session, principal, ticket_id)
    return await AttachmentDAO(session).public_of_ticket(ticket_id)


async def all_files(
    session: AsyncSession, principal: Principal, ticket_id: uuid.UUID
) -> list[tuple[Attachment, uuid.UUID | None]]:
    """Every file of the ticket with its note, if any: the ticket's staff only."""
    granted = await access(session, principal, ticket_id)
    if granted.view is not View.STAFF:
        raise Forbidden("The ticket's support staff only.")
    return await AttachmentDAO(session).all_of_ticket(ticket_id)


async def downloadable(
    session: AsyncSession, principal: Principal, attachment_id: uuid.UUID
) -> Attachment:
    dao = AttachmentDAO(session)
    found = await dao.get_or_404(attachment_id)
    granted = await access(session, principal, found.ticket_id)
    if granted.view is View.CUSTOMER and found.message_id is None:
        raise NotFound("No such attachment")  # a note's file does not exist for the customer
    return found


def missing_bytes(found: Attachment) -> NotFound:
    logger.error("attachment {} has no stored bytes ({})", found.id, found.storage_key)
    return NotFound("The file is no longer available.")
