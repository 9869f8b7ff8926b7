"""Support staff's desk: /api/tickets/v1/staff/** (role support or admin, here and at the
gateway)."""

import uuid
from typing import Annotated

from fastapi import Query

from berth_common.db import SessionDep
from berth_common.errors import (
    Conflict,
    NotFound,
    ServiceUnavailable,
    Unprocessable,
    error_responses,
)
from berth_common.pagination import PageDep
from berth_common.routing import role_router
from berth_common.security import SupportUser, user_id_of
from berth_tickets.departments import service as departments
from berth_tickets.deps import SettingsDep, UpstreamDep
from berth_tickets.staff import schemas, service
from berth_tickets.tickets.schemas import Message

router = role_router(
    "support", "admin", prefix="/api/tickets/v1/staff", tags=["staff"], errors=(NotFound,)
)


@router.get(
    "/tickets", response_model=schemas.StaffTicketPage, responses=error_responses(Unprocessable)
)
async def the_queue(
    staff: SupportUser,
    session: SessionDep,
    settings: SettingsDep,
    params: PageDep,
    filters: Annotated[schemas.QueueFilter, Query()],
) -> schemas.StaffTicketPage:
    """Active tickets unless `status` says otherwise; `assignee` me / none / an id; `sla`
    ok / at_risk / breached; `q` searches subjects and public messages."""
    return await service.queue(session, settings, params, filters, user_id_of(staff))


@router.get("/tickets/{ticket_id}", response_model=schemas.StaffTicketDetail)
async def a_ticket(
    ticket_id: uuid.UUID, staff: SupportUser, session: SessionDep, settings: SettingsDep
) -> schemas.StaffTicketDetail:
    return await service.detail(session, settings, await service.ticket(session, ticket_id))


@router.patch(
    "/tickets/{ticket_id}",
    response_model=schemas.StaffTicket,
    responses=error_responses(Conflict, Unprocessable),
)
async def change(
    ticket_id: uuid.UUID,
    data: schemas.TicketChange,
    staff: SupportUser,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.StaffTicket:
    item = await service.change(session, ticket_id, data, user_id_of(staff), settings)
    return await service.view(session, settings, item, service.now())


@router.post(
    "/tickets/{ticket_id}/assign",
    response_model=schemas.StaffTicket,
    responses=error_responses(Conflict, Unprocessable, ServiceUnavailable),
)
async def assign(
    ticket_id: uuid.UUID,
    data: schemas.Assignment,
    staff: SupportUser,
    session: SessionDep,
    settings: SettingsDep,
    upstream: UpstreamDep,
) -> schemas.StaffTicket:
    item = await service.assign(session, settings, upstream, ticket_id, data, user_id_of(staff))
    return await service.view(session, settings, item, service.now())


@router.post(
    "/tickets/{ticket_id}/replies",
    status_code=201,
    response_model=Message,
    responses=error_responses(Conflict, Unprocessable, ServiceUnavailable),
)
async def reply(
    ticket_id: uuid.UUID,
    data: schemas.StaffReply,
    staff: SupportUser,
    session: SessionDep,
    settings: SettingsDep,
    upstream: UpstreamDep,
) -> Message:
    return await service.reply(session, settings, upstream, ticket_id, data, user_id_of(staff))


@router.get("/tickets/{ticket_id}/notes", response_model=list[schemas.Note])
async def notes(ticket_id: uuid.UUID, staff: SupportUser, session: SessionDep) -> list:
    return await service.notes(session, ticket_id)


@router.post(
    "/tickets/{ticket_id}/notes",
    status_code=201,
    response_model=schemas.Note,
    responses=error_responses(Unprocessable),
)
async def add_note(
    ticket_id: uuid.UUID, data: schemas.NoteCreate, staff: SupportUser, session: SessionDep
) -> schemas.Note:
    return await service.add_note(session, ticket_id, data.body, user_id_of(staff))


@router.post(
    "/tickets/{ticket_id}/merge",
    response_model=schemas.StaffTicket,
    responses=error_responses(Conflict),
    description="Merge this ticket into `into_ticket_id`; answers the ticket it joined.",
)
async def merge(
    ticket_id: uuid.UUID,
    data: schemas.MergeRequest,
    staff: SupportUser,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.StaffTicket:
    target = await service.merge(
        session, ticket_id, data.into_ticket_id, user_id_of(staff), settings
    )
    return await service.view(session, settings, target, service.now())


@router.put("/tickets/{ticket_id}/incidents/{incident_id}", status_code=204)
async def link_incident(
    ticket_id: uuid.UUID, incident_id: uuid.UUID, staff: SupportUser, session: SessionDep
) -> None:
    await service.link_incident(session, ticket_id, incident_id)


@router.get("/incidents/{incident_id}/tickets", response_model=list[schemas.StaffTicket])
async def incident_tickets(
    incident_id: uuid.UUID, staff: SupportUser, session: SessionDep, settings: SettingsDep
) -> list[schemas.StaffTicket]:
    return await service.incident_tickets(session, settings, incident_id)


@router.post(
    "/incidents/{incident_id}/replies",
    response_model=schemas.IncidentReplyResult,
    responses=error_responses(Unprocessable),
)
async def reply_to_incident(
    incident_id: uuid.UUID,
    data: schemas.IncidentReply,
    staff: SupportUser,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.IncidentReplyResult:
    """One public reply on every active ticket linked to the incident."""
    return await service.reply_to_incident(session, settings, incident_id, data, user_id_of(staff))


@router.get("/departments", response_model=list[schemas.DepartmentOut])
async def all_departments(staff: SupportUser, session: SessionDep) -> list:
    return await departments.listing(session, active_only=False)


@router.get("/canned-replies", response_model=list[schemas.CannedReply])
async def canned_replies(
    staff: SupportUser, session: SessionDep, department_id: uuid.UUID | None = None
) -> list:
    return await departments.canned_replies(session, department_id)
