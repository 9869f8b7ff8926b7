"""Support staff's side of the desk: the queue, a ticket's full view, assignment, public
replies (canned ones with variables), internal notes, status and priority, merges, and one
reply to every ticket of an incident.

Internal notes are written and read here only, through their own table; nothing here puts
a note's text into a message, an email or a customer view.
"""

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import (
    Conflict,
    NotFound,
    ServiceUnavailable,
    TransientError,
    Unprocessable,
)
from berth_common.pagination import PageParams
from berth_tickets.config import TicketsSettings
from berth_tickets.departments import service as departments
from berth_tickets.enums import (
    ACTIVE_STATUSES,
    AuthorKind,
    EventKind,
    IncidentLinkOrigin,
    NotificationKind,
    TicketStatus,
)
from berth_tickets.incidents import service as incidents
from berth_tickets.incidents.dao import IncidentLinkDAO
from berth_tickets.models import Ticket
from berth_tickets.notify.service import notify
from berth_tickets.numbers import display_number
from berth_tickets.sla import apply
from berth_tickets.sla import service as sla_clock
from berth_tickets.staff import schemas
from berth_tickets.staff.dao import NoteDAO, QueueDAO
from berth_tickets.tickets import lifecycle
from berth_tickets.tickets import schemas as public
from berth_tickets.tickets import service as tickets
from berth_tickets.tickets.dao import EventDAO, MessageDAO, TicketDAO
from berth_tickets.upstream import Upstream


class MergeRefused(Conflict):
    code = "merge_refused"


class EmptyReply(Unprocessable):
    code = "empty_reply"


class NotAnAgent(Conflict):
    code = "no_agent"


def now() -> datetime:
    return datetime.now(UTC)


async def ticket(session: AsyncSession, ticket_id: uuid.UUID, *, lock: bool = False) -> Ticket:
    dao = TicketDAO(session)
    found = await dao.get_for_update(ticket_id) if lock else await dao.get(ticket_id)
    if found is None:
        raise tickets.TicketNotFound("Ticket not found")
    return found


async def view(
    session: AsyncSession, settings: TicketsSettings, item: Ticket, at: datetime
) -> schemas.StaffTicket:
    base = await tickets.view(session, item)
    policy = await apply.policy_of(session, item)
    return schemas.StaffTicket(
        **base.model_dump(),
        owner_id=item.owner_id,
        assignee_id=item.assignee_id,
        plan_tier=item.plan_tier,
        reopened_count=item.reopened_count,
        first_responded_at=item.first_responded_at,
        sla=schemas.Sla(**apply.summary(item, policy, at, settings.sla_at_risk_ratio)),
    )


async def detail(
    session: AsyncSession, settings: TicketsSettings, item: Ticket
) -> schemas.StaffTicketDetail:
    base = await view(session, settings, item, now())
    messages = await MessageDAO(session).of_ticket(item.id)
    notes = await NoteDAO(session).of_ticket(item.id)
    events = await EventDAO(session).of_ticket(item.id)
    linked = await incidents.of_ticket(session, item.id)
    return schemas.StaffTicketDetail(
        **base.model_dump(),
        context=item.context,
        messages=[public.Message.model_validate(m) for m in messages],
        notes=[schemas.Note.model_validate(n) for n in notes],
        events=[schemas.Event.model_validate(e) for e in events],
        incidents=[schemas.IncidentRef.model_validate(i) for i in linked],
    )


async def queue(
    session: AsyncSession,
    settings: TicketsSettings,
    params: PageParams,
    filters: schemas.QueueFilter,
    staff_id: uuid.UUID,
) -> schemas.StaffTicketPage:
    at = now()
    where = []
    if filters.department:
        department = await departments.active_by_slug(session, filters.department)
        where.append(Ticket.department_id == department.id)
    if filters.status:
        where.append(Ticket.status == filters.status)
    else:  # the queue is what is still to do unless asked otherwise
        where.append(Ticket.status.in_(ACTIVE_STATUSES))
    if filters.priority:
        where.append(Ticket.priority == filters.priority)
    if filters.assignee == "me":
        where.append(Ticket.assignee_id == staff_id)
    elif filters.assignee == "none":
        where.append(Ticket.assignee_id.is_(None))
    elif isinstance(filters.assignee, uuid.UUID):
        where.append(Ticket.assignee_id == filters.assignee)
    sla = (filters.sla, at, settings.sla_at_risk_ratio) if filters.sla else None
    items, total = await QueueDAO(session).queue(params, where=where, query=filters.q, sla=sla)
    views = [await view(session, settings, item, at) for item in items]
    return schemas.StaffTicketPage.build(views, total, params)


async def assign(
    session: AsyncSession,
    settings: TicketsSettings,
    upstream: Upstream,
    ticket_id: uuid.UUID,
    data: schemas.Assignment,
    staff_id: uuid.UUID,
) -> Ticket:
    item = await ticket(session, ticket_id, lock=True)
    at = now()
    assignee = data.assignee_id
    if assignee is not None and assignee != item.assignee_id and not data.round_robin:
        await departments.require_staff(upstream, assignee)
    if data.round_robin:
        assignee = await departments.next_agent(session, item.department_id, at)
        if assignee is None:
            raise NotAnAgent("The department has no active agent to take it")
    how = "round_robin" if data.round_robin else "manual"
    await tickets.assign(session, settings, item, assignee, actor_id=staff_id, at=at, how=how)
    return item


async def _variables(
    upstream: Upstream, item: Ticket, department_name: str, staff_id: uuid.UUID, body: str
) -> dict[str, str]:
    names = set(departments.VARIABLE.findall(body))
    values = {
        "ticket_number": display_number(item.number),
        "ticket_subject": item.subject,
        "department": department_name,
    }
    try:
        if names & {"customer_name", "customer_email"}:
            customer = await upstream.person(item.owner_id) or {}
            values["customer_name"] = customer.get("name") or ""
            values["customer_email"] = customer.get("email") or ""
        if "agent_name" in names:
            agent = await upstream.person(staff_id) or {}
            values["agent_name"] = agent.get("name") or ""
    except TransientError as exc:
        raise ServiceUnavailable("The user directory cannot fill in the reply now") from exc
    return values


async def reply(
    session: AsyncSession,
    settings: TicketsSettings,
    upstream: Upstream,
    ticket_id: uuid.UUID,
    data: schemas.StaffReply,
    staff_id: uuid.UUID,
) -> public.Message:
    item = await ticket(session, ticket_id, lock=True)
    lifecycle.require_active(item)
    parts = []
    if data.canned_reply_id is not None:
        canned = await departments.canned_reply(session, data.canned_reply_id)
        department = await departments.department(session, item.department_id)
        values = await _variables(upstream, item, department.name, staff_id, canned.body)
        parts.append(departments.render(canned.body, values))
    if data.body:
        parts.append(data.body)
    body = "\n\n".join(p.strip() for p in parts if p.strip())
    if not body:
        raise EmptyReply("The reply is empty once its variables are filled in")
    message = await lifecycle.staff_replied(
        session, settings, item, body, author_id=staff_id, at=now(), then=TicketStatus(data.status)
    )
    return public.Message.model_validate(message)


async def add_note(
    session: AsyncSession, ticket_id: uuid.UUID, body: str, staff_id: uuid.UUID
) -> schemas.Note:
    item = await ticket(session, ticket_id)
    note = await NoteDAO(session).create(ticket_id=item.id, author_id=staff_id, body=body)
    return schemas.Note.model_validate(note)


async def notes(session: AsyncSession, ticket_id: uuid.UUID) -> list[schemas.Note]:
    item = await ticket(session, ticket_id)
    return [schemas.Note.model_validate(n) for n in await NoteDAO(session).of_ticket(item.id)]


async def change(
    session: AsyncSession,
    ticket_id: uuid.UUID,
    data: schemas.TicketChange,
    staff_id: uuid.UUID,
    settings: TicketsSettings | None = None,
) -> Ticket:
    item = await ticket(session, ticket_id, lock=True)
    at = now()
    if data.subject is not None and data.subject != item.subject:
        item.subject = data.subject
    if data.priority is not None and data.priority != item.priority:
        previous = item.priority
        item.priority = data.priority
        # the new priority's policy times the windows that start from now (the next
        # response, a reopen); running windows keep the due moments already promised
        policy = await apply.policy_for(session, item.plan_tier, data.priority)
        item.sla_policy_id = policy.id if policy is not None else item.sla_policy_id
        await EventDAO(session).record(
            item.id,
            EventKind.PRIORITY_CHANGED,
            actor_id=staff_id,
            data={"from": previous, "to": data.priority},
        )
    if data.status is not None:
        target = TicketStatus(data.status)
        if target == TicketStatus.OPEN and item.status == TicketStatus.CLOSED:
            await lifecycle.reopen(session, item, at=at, actor_id=staff_id)
        else:
            changed = await lifecycle.set_status(session, item, target, at=at, actor_id=staff_id)
            if changed and target == TicketStatus.CLOSED and settings is not None:
                await notify(
                    session,
                    item,
                    NotificationKind.CLOSED,
                    settings=settings,
                    recipient_id=item.owner_id,
                    key=f"{item.id}:{at.isoformat()}",
                )
    item.updated_at = at
    await session.flush()
    return item


async def merge(
    session: AsyncSession,
    ticket_id: uuid.UUID,
    into_id: uuid.UUID,
    staff_id: uuid.UUID,
    settings: TicketsSettings | None = None,
) -> Ticket:
    """Fold a duplicate into another ticket of the same customer: its thread, notes and
    attachments move, it becomes `merged` (final) and points at the other."""
    if ticket_id == into_id:
        raise MergeRefused("A ticket cannot be merged into itself")
    # lock both in a fixed order so two opposite merges cannot deadlock
    first, second = sorted((ticket_id, into_id))
    locked = {first: await ticket(session, first, lock=True)}
    locked[second] = await ticket(session, second, lock=True)
    source, target = locked[ticket_id], locked[into_id]
    if source.owner_id != target.owner_id:
        raise MergeRefused("Only tickets of the same customer merge")
    if source.status not in ACTIVE_STATUSES or target.status == TicketStatus.MERGED:
        raise MergeRefused(f"Cannot merge a {source.status} ticket into a {target.status} one")
    at = now()
    await TicketDAO(session).move_children(source.id, target.id)
    await IncidentLinkDAO(session).copy_links(source.id, target.id)
    apply.store(source, sla_clock.stop(apply.clock_of(source)))
    source.status = TicketStatus.MERGED
    source.merged_into_id = target.id
    source.waiting_since = None
    source.closed_at = at
    source.updated_at = target.updated_at = at
    await session.flush()
    await EventDAO(session).record(
        source.id, EventKind.MERGED, actor_id=staff_id, data={"into": str(target.id)}
    )
    await EventDAO(session).record(
        target.id, EventKind.MERGED_IN, actor_id=staff_id, data={"from": str(source.id)}
    )
    await lifecycle.add_message(
        session,
        target,
        author_kind=AuthorKind.SYSTEM,
        author_id=None,
        body=f"Ticket {display_number(source.number)} ({source.subject}) was merged into this one.",
        at=at,
    )
    if target.status == TicketStatus.CLOSED:
        await lifecycle.reopen(session, target, at=at, actor_id=staff_id)
    if settings is not None:  # told on the ticket it goes on in (its reply address)
        await notify(
            session,
            target,
            NotificationKind.MERGED,
            settings=settings,
            recipient_id=source.owner_id,
            key=str(source.id),
            detail=f"{display_number(source.number)} ({source.subject}) goes on as this ticket.",
        )
    return target


async def incident_tickets(
    session: AsyncSession, settings: TicketsSettings, incident_id: uuid.UUID
) -> list[schemas.StaffTicket]:
    await incidents.get(session, incident_id)
    at = now()
    found = await TicketDAO(session).linked_to_incident(incident_id)
    return [await view(session, settings, item, at) for item in found]


async def reply_to_incident(
    session: AsyncSession,
    settings: TicketsSettings,
    incident_id: uuid.UUID,
    data: schemas.IncidentReply,
    staff_id: uuid.UUID,
) -> schemas.IncidentReplyResult:
    """The same public reply on every active ticket linked to the incident (each its own
    message and notification); closed and merged ones are left alone."""
    await incidents.get(session, incident_id)
    replied, skipped = [], []
    at = now()
    for listed in await TicketDAO(session).linked_to_incident(incident_id):
        item = await ticket(session, listed.id, lock=True)
        if item.status not in ACTIVE_STATUSES:
            skipped.append(item.id)
            continue
        await lifecycle.staff_replied(
            session,
            settings,
            item,
            data.body,
            author_id=staff_id,
            at=at,
            then=TicketStatus(data.status),
        )
        replied.append(item.id)
    return schemas.IncidentReplyResult(replied=replied, skipped=skipped)


async def link_incident(
    session: AsyncSession, ticket_id: uuid.UUID, incident_id: uuid.UUID
) -> None:
    item = await ticket(session, ticket_id, lock=True)
    incident = await incidents.get(session, incident_id)
    if incident.owner_id != item.owner_id:
        raise NotFound("Incident not found")
    await incidents.link(session, item, incident.id, IncidentLinkOrigin.STAFF)
