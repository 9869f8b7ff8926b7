"""The customer's side of the desk: open, list and search, read, reply, close, reopen, rate.

Every read and change starts from `owned(...)`: someone else's ticket does not exist for a
customer (404, never 403). What goes out is a public view (schemas.Ticket, Message): the
staff context, internal notes, events and SLA internals have no field there.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import Conflict, NotFound, Unprocessable
from berth_common.pagination import PageParams
from berth_tickets.config import TicketsSettings
from berth_tickets.departments import service as departments
from berth_tickets.enums import (
    AuthorKind,
    EventKind,
    LinkKind,
    NotificationKind,
    TicketStatus,
)
from berth_tickets.incidents import service as incidents
from berth_tickets.models import Ticket
from berth_tickets.notify.service import notify
from berth_tickets.numbers import display_number
from berth_tickets.sla import apply, tiers
from berth_tickets.sla import service as sla
from berth_tickets.tickets import lifecycle, schemas
from berth_tickets.tickets.dao import EventDAO, MessageDAO, TicketDAO
from berth_tickets.upstream import Upstream


class TicketNotFound(NotFound):
    code = "ticket_not_found"


class TooManyOpenTickets(Conflict):
    code = "too_many_open_tickets"


class RatingRefused(Conflict):
    code = "rating_refused"


def now() -> datetime:
    return datetime.now(UTC)


async def owned(
    session: AsyncSession, ticket_id: uuid.UUID, owner_id: uuid.UUID, *, lock: bool = False
) -> Ticket:
    dao = TicketDAO(session)
    found = (
        await dao.owned_for_update(ticket_id, owner_id)
        if lock
        else await dao.owned(ticket_id, owner_id)
    )
    if found is None:
        raise TicketNotFound("Ticket not found")
    return found


async def open_ticket(
    session: AsyncSession,
    settings: TicketsSettings,
    upstream: Upstream,
    *,
    owner_id: uuid.UUID,
    token: str | None,
    data: schemas.TicketCreate,
) -> Ticket:
    """`token` is the customer's own; None when a platform service opens the ticket for them
    (no link to verify then, and no context gathered on their behalf)."""
    # the other services first: no transaction of ours stays open while they answer
    linked: dict[str, Any] | None = None
    context: dict[str, Any] = {}
    if token is not None:
        if data.link is not None:
            linked = await upstream.verify_link(data.link.kind, data.link.id, token, owner_id)
        app = linked if data.link is not None and data.link.kind == LinkKind.APP else None
        context = await upstream.context(token, app, linked)
    department = await departments.active_by_slug(session, data.department)
    if await TicketDAO(session).count_active_of(owner_id) >= settings.open_tickets_per_user:
        raise TooManyOpenTickets(
            f"At most {settings.open_tickets_per_user} open tickets; close one first"
        )
    at = now()
    # the customer's tier now, from billing's events; a later change of tier leaves this
    # ticket's tier and SLA as they started (only new tickets follow it)
    plan_tier = await tiers.plan_tier_of(session, settings, owner_id)
    policy_row = await apply.policy_for(session, plan_tier, data.priority)
    policy = await apply.as_policy(session, policy_row)
    clock = sla.start_clock(at, policy) if policy is not None else sla.Clock()
    ticket = await TicketDAO(session).create(
        owner_id=owner_id,
        department_id=department.id,
        subject=data.subject,
        priority=data.priority,
        status=TicketStatus.OPEN,
        plan_tier=plan_tier,
        link_kind=data.link.kind if data.link else None,
        link_id=data.link.id if data.link else None,
        context=context,
        sla_policy_id=policy_row.id if policy_row else None,
        last_customer_message_at=at,
        created_at=at,
        updated_at=at,
    )
    apply.store(ticket, clock)
    message = await lifecycle.add_message(
        session,
        ticket,
        author_kind=AuthorKind.CUSTOMER,
        author_id=owner_id,
        body=data.body,
        at=at,
    )
    await EventDAO(session).record(
        ticket.id, EventKind.OPENED, actor_id=owner_id, data={"department": department.slug}
    )
    await incidents.link_new_ticket(session, ticket, linked)
    assignee = await departments.next_agent(session, department.id, at)
    if assignee is not None:
        await assign(session, settings, ticket, assignee, actor_id=None, at=at, how="round_robin")
    await session.flush()
    await notify(
        session,
        ticket,
        NotificationKind.TICKET_OPENED,
        settings=settings,
        recipient_id=owner_id,
        key=str(message.id),
        detail=data.body,
    )
    return ticket


async def assign(
    session: AsyncSession,
    settings: TicketsSettings,
    ticket: Ticket,
    assignee_id: uuid.UUID | None,
    *,
    actor_id: uuid.UUID | None,
    at: datetime,
    how: str,
) -> None:
    previous = ticket.assignee_id
    if previous == assignee_id:
        return
    ticket.assignee_id = assignee_id
    ticket.updated_at = at
    await session.flush()
    event = {
        "from": str(previous) if previous else None,
        "to": str(assignee_id) if assignee_id else None,
        "how": how,
    }
    await EventDAO(session).record(ticket.id, EventKind.ASSIGNED, actor_id=actor_id, data=event)
    if assignee_id is not None and assignee_id != actor_id:
        await notify(
            session,
            ticket,
            NotificationKind.ASSIGNED,
            settings=settings,
            recipient_id=assignee_id,
            key=f"{ticket.id}:{at.isoformat()}",
        )


async def view(session: AsyncSession, ticket: Ticket) -> schemas.Ticket:
    department = await departments.department(session, ticket.department_id)
    merged_into = None
    if ticket.merged_into_id is not None:
        target = await TicketDAO(session).get(ticket.merged_into_id)
        merged_into = display_number(target.number) if target else None
    link = (
        schemas.Link(kind=ticket.link_kind, id=ticket.link_id)
        if ticket.link_kind and ticket.link_id
        else None
    )
    return schemas.Ticket(
        id=ticket.id,
        number=display_number(ticket.number),
        department=department.slug,
        subject=ticket.subject,
        status=ticket.status,
        priority=ticket.priority,
        link=link,
        merged_into=merged_into,
        rating=ticket.rating,
        rating_comment=ticket.rating_comment,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        closed_at=ticket.closed_at,
    )


async def detail(session: AsyncSession, ticket: Ticket) -> schemas.TicketDetail:
    base = await view(session, ticket)
    messages = await MessageDAO(session).of_ticket(ticket.id)
    return schemas.TicketDetail(
        **base.model_dump(), messages=[schemas.Message.model_validate(m) for m in messages]
    )


async def page_of(
    session: AsyncSession,
    owner_id: uuid.UUID,
    params: PageParams,
    *,
    query: str | None,
    status: TicketStatus | None,
) -> schemas.TicketPage:
    where = [Ticket.status == status] if status is not None else []
    items, total = await TicketDAO(session).page_of_owner(params, owner_id, where, query)
    views = [await view(session, t) for t in items]
    return schemas.TicketPage.build(views, total, params)


async def reply(
    session: AsyncSession,
    settings: TicketsSettings,
    owner_id: uuid.UUID,
    ticket_id: uuid.UUID,
    body: str,
) -> schemas.Message:
    ticket = await owned(session, ticket_id, owner_id, lock=True)
    message = await lifecycle.customer_wrote(session, settings, ticket, body, at=now())
    return schemas.Message.model_validate(message)


async def close(session: AsyncSession, owner_id: uuid.UUID, ticket_id: uuid.UUID) -> Ticket:
    ticket = await owned(session, ticket_id, owner_id, lock=True)
    if ticket.status != TicketStatus.CLOSED:
        await lifecycle.set_status(
            session, ticket, TicketStatus.CLOSED, at=now(), actor_id=owner_id, kind=EventKind.CLOSED
        )
    return ticket


async def reopen(
    session: AsyncSession,
    settings: TicketsSettings,
    owner_id: uuid.UUID,
    ticket_id: uuid.UUID,
    body: str | None,
) -> Ticket:
    ticket = await owned(session, ticket_id, owner_id, lock=True)
    at = now()
    await lifecycle.reopen(session, ticket, at=at, actor_id=owner_id)
    if body:
        await lifecycle.customer_wrote(session, settings, ticket, body, at=at)
    return ticket


async def rate(
    session: AsyncSession, owner_id: uuid.UUID, ticket_id: uuid.UUID, data: schemas.RatingCreate
) -> Ticket:
    ticket = await owned(session, ticket_id, owner_id, lock=True)
    if ticket.status != TicketStatus.CLOSED:
        raise RatingRefused("A ticket is rated once it is closed")
    if ticket.rating is not None:
        raise RatingRefused("This ticket is rated already")
    comment = (data.comment or "").strip() or None
    if comment is not None and any(ord(c) < 32 and c not in "\t\n\r" for c in comment):
        raise Unprocessable("The comment must not contain control characters")
    ticket.rating, ticket.rating_comment, ticket.rated_at = data.rating, comment, now()
    await session.flush()
    await EventDAO(session).record(
        ticket.id, EventKind.RATED, actor_id=owner_id, data={"rating": data.rating}
    )
    return ticket
