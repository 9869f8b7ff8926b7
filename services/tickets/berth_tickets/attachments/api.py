"""Attachments over HTTP: upload to a message (customer or staff) or to an internal note
(staff), list a ticket's files, and download one — always as a download, never rendered.

Uploads are multipart/form-data with one file in the field `file`, read as they stream in
(berth_tickets.attachments.multipart): a body past the limit is refused with 413 without
being read to its end.
"""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.responses import StreamingResponse

from berth_common.db import SessionDep
from berth_common.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unprocessable,
    error_responses,
)
from berth_common.routing import role_router, user_router
from berth_common.security import CurrentUser, SupportUser
from berth_tickets.attachments import schemas, service
from berth_tickets.attachments.multipart import TooLarge, Upload, read_upload
from berth_tickets.attachments.settings import AttachmentSettings, get_attachment_settings
from berth_tickets.attachments.storage import LocalStorage, Storage

API = "/api/tickets/v1"
router = user_router(prefix=API, tags=["attachments"], errors=(NotFound, Forbidden))
staff_router = role_router(
    "support", "admin", prefix=f"{API}/staff", tags=["attachments"], errors=(NotFound, Forbidden)
)

#: how a downloaded file is framed: never sniffed, never a page, never a script's origin
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "private, no-store",
}


def _settings(request: Request) -> AttachmentSettings:
    found = getattr(request.app.state, "attachment_settings", None)
    return found or get_attachment_settings()


def _storage(request: Request) -> Storage:
    storage = getattr(request.app.state, "attachment_storage", None)
    if storage is None:
        storage = LocalStorage(_settings(request).attachments_dir)
        request.app.state.attachment_storage = storage
    return storage


SettingsDep = Annotated[AttachmentSettings, Depends(_settings)]
StorageDep = Annotated[Storage, Depends(_storage)]


def _reader(request: Request, settings: SettingsDep) -> Callable[[], Awaitable[Upload]]:
    """Reads the body's file when called: after the caller and the target were checked."""

    async def read() -> Upload:
        return await read_upload(
            request.headers.get("content-type"),
            request.headers.get("content-length"),
            request.stream(),
            settings.attachment_max_bytes,
        )

    return read


UploadDep = Annotated[Callable[[], Awaitable[Upload]], Depends(_reader)]
UPLOAD_ERRORS = error_responses(TooLarge, Unprocessable, Conflict)


@router.post(
    "/tickets/{ticket_id}/messages/{message_id}/attachments",
    status_code=201,
    response_model=schemas.Attachment,
    responses=UPLOAD_ERRORS,
)
async def attach_to_message(
    ticket_id: uuid.UUID,
    message_id: uuid.UUID,
    principal: CurrentUser,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
    upload: UploadDep,
) -> schemas.Attachment:
    """Attach a file to a message you have just written (multipart field `file`)."""
    stored = await service.attach_to_message(
        session, storage, settings, principal, ticket_id, message_id, upload
    )
    return schemas.Attachment.model_validate(stored)


@router.get("/tickets/{ticket_id}/attachments", response_model=list[schemas.Attachment])
async def ticket_files(
    ticket_id: uuid.UUID, principal: CurrentUser, session: SessionDep
) -> list[schemas.Attachment]:
    """The files of the ticket's public messages."""
    found = await service.public_files(session, principal, ticket_id)
    return [schemas.Attachment.model_validate(a) for a in found]


@router.get(
    "/attachments/{attachment_id}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download(
    attachment_id: uuid.UUID, principal: CurrentUser, session: SessionDep, storage: StorageDep
) -> StreamingResponse:
    """The file, as a download (Content-Disposition: attachment), to those who may see it."""
    found = await service.downloadable(session, principal, attachment_id)
    try:
        chunks = await storage.open(found.storage_key)
    except FileNotFoundError:
        raise service.missing_bytes(found) from None
    media_type = found.content_type
    if media_type == "text/plain":
        media_type = "text/plain; charset=utf-8"
    return StreamingResponse(
        chunks,
        media_type=media_type,
        headers={
            **DOWNLOAD_HEADERS,
            "Content-Length": str(found.size_bytes),
            "Content-Disposition": content_disposition(found.filename),
        },
    )


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact one in RFC 5987 form."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@staff_router.post(
    "/tickets/{ticket_id}/notes/{note_id}/attachments",
    status_code=201,
    response_model=schemas.StaffAttachment,
    responses=UPLOAD_ERRORS,
)
async def attach_to_note(
    ticket_id: uuid.UUID,
    note_id: uuid.UUID,
    staff: SupportUser,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
    upload: UploadDep,
) -> schemas.StaffAttachment:
    """Attach a file to an internal note you have just written (staff only, never shown to
    the customer)."""
    stored, note_id = await service.attach_to_note(
        session, storage, settings, staff, ticket_id, note_id, upload
    )
    return schemas.StaffAttachment.model_validate({**_fields(stored), "note_id": note_id})


@staff_router.get("/tickets/{ticket_id}/attachments", response_model=list[schemas.StaffAttachment])
async def all_ticket_files(
    ticket_id: uuid.UUID, staff: SupportUser, session: SessionDep
) -> list[schemas.StaffAttachment]:
    """Every file of the ticket, those of internal notes with their `note_id`."""
    found = await service.all_files(session, staff, ticket_id)
    return [
        schemas.StaffAttachment.model_validate({**_fields(a), "note_id": note}) for a, note in found
    ]


def _fields(found: object) -> dict:
    return schemas.Attachment.model_validate(found).model_dump()
