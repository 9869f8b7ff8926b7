"""The customer's tickets: /api/tickets/v1/tickets (and the departments to choose from)."""

import uuid
from typing import Annotated

from fastapi import Depends, Query

from berth_common.db import SessionDep
from berth_common.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    Unprocessable,
    error_responses,
)
from berth_common.pagination import PageDep
from berth_common.routing import guarded_router, user_router
from berth_common.security import CurrentUserId, Principal, PrincipalKind, require_scope
from berth_tickets.departments import service as departments
from berth_tickets.deps import CallerToken, SettingsDep, UpstreamDep
from berth_tickets.enums import TicketStatus
from berth_tickets.tickets import schemas, service

API = "/api/tickets/v1"
router = user_router(prefix=f"{API}/tickets", tags=["tickets"], errors=(NotFound,))
departments_router = user_router(prefix=f"{API}/departments", tags=["tickets"])

Search = Annotated[schemas.SearchText | None, Query(description='words, "a phrase", -not, or')]


@departments_router.get("", response_model=list[schemas.Department])
async def open_departments(session: SessionDep) -> list[schemas.Department]:
    found = await departments.listing(session, active_only=True)
    return [schemas.Department.model_validate(d) for d in found]


@router.post(
    "",
    status_code=201,
    response_model=schemas.TicketDetail,
    responses=error_responses(
        Unprocessable, Conflict, ServiceUnavailable, departments.DepartmentNotFound
    ),
)
async def open_ticket(
    data: schemas.TicketCreate,
    owner_id: CurrentUserId,
    token: CallerToken,
    session: SessionDep,
    settings: SettingsDep,
    upstream: UpstreamDep,
) -> schemas.TicketDetail:
    ticket = await service.open_ticket(
        session, settings, upstream, owner_id=owner_id, token=token, data=data
    )
    return await service.detail(session, ticket)


@router.get("", response_model=schemas.TicketPage, responses=error_responses(Unprocessable))
async def my_tickets(
    owner_id: CurrentUserId,
    session: SessionDep,
    params: PageDep,
    q: Search = None,
    status: TicketStatus | None = None,
) -> schemas.TicketPage:
    """Your tickets, newest activity first; `q` searches subjects and the public thread."""
    return await service.page_of(session, owner_id, params, query=q, status=status)


@router.get("/{ticket_id}", response_model=schemas.TicketDetail)
async def my_ticket(
    ticket_id: uuid.UUID, owner_id: CurrentUserId, session: SessionDep
) -> schemas.TicketDetail:
    return await service.detail(session, await service.owned(session, ticket_id, owner_id))


@router.post(
    "/{ticket_id}/messages",
    status_code=201,
    response_model=schemas.Message,
    responses=error_responses(Conflict, Unprocessable),
)
async def reply(
    ticket_id: uuid.UUID,
    data: schemas.MessageCreate,
    owner_id: CurrentUserId,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.Message:
    return await service.reply(session, settings, owner_id, ticket_id, data.body)


@router.post(
    "/{ticket_id}/close", response_model=schemas.Ticket, responses=error_responses(Conflict)
)
async def close(
    ticket_id: uuid.UUID, owner_id: CurrentUserId, session: SessionDep
) -> schemas.Ticket:
    return await service.view(session, await service.close(session, owner_id, ticket_id))


@router.post(
    "/{ticket_id}/reopen",
    response_model=schemas.Ticket,
    responses=error_responses(Conflict, Unprocessable),
)
async def reopen(
    ticket_id: uuid.UUID,
    owner_id: CurrentUserId,
    session: SessionDep,
    settings: SettingsDep,
    data: schemas.ReopenRequest | None = None,
) -> schemas.Ticket:
    body = data.body if data is not None else None
    ticket = await service.reopen(session, settings, owner_id, ticket_id, body)
    return await service.view(session, ticket)


@router.post(
    "/{ticket_id}/rating",
    response_model=schemas.Ticket,
    responses=error_responses(Conflict, Unprocessable),
)
async def rate(
    ticket_id: uuid.UUID,
    data: schemas.RatingCreate,
    owner_id: CurrentUserId,
    session: SessionDep,
) -> schemas.Ticket:
    return await service.view(session, await service.rate(session, owner_id, ticket_id, data))


async def _service_writer(
    principal: Annotated[Principal, Depends(require_scope("tickets:write"))],
) -> Principal:
    """Only the platform's machine clients (tickets:write): a person opens their own."""
    if principal.kind != PrincipalKind.CLIENT:
        raise Forbidden("For the platform's services only")
    return principal


services_router = guarded_router(
    _service_writer, prefix=f"{API}/service/tickets", tags=["service: tickets"]
)


@services_router.post(
    "",
    status_code=201,
    response_model=schemas.TicketDetail,
    responses=error_responses(Unprocessable, Conflict, departments.DepartmentNotFound),
    description="Open a ticket on a customer's behalf (chat: a conversation's transcript).",
)
async def open_ticket_for(
    data: schemas.ServiceTicketCreate,
    session: SessionDep,
    settings: SettingsDep,
    upstream: UpstreamDep,
) -> schemas.TicketDetail:
    ticket = await service.open_ticket(
        session, settings, upstream, owner_id=data.owner_id, token=None, data=data.as_customer()
    )
    return await service.detail(session, ticket)
