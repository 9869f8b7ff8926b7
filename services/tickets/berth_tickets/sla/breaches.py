"""The beat's breach check: each running SLA window whose due moment passed is recorded once
(the ticket's `<target>_breached_at`, a `sla_breached` event whose dedupe key names the
window) and its assignee is told once. Safe to run twice at once: rows are taken with SKIP
LOCKED, and the event's unique key and the notification's unique key hold the rest."""

from datetime import datetime

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_tickets.config import TicketsSettings
from berth_tickets.enums import EventKind, NotificationKind
from berth_tickets.models import Ticket
from berth_tickets.notify.service import notify
from berth_tickets.sla import service as sla
from berth_tickets.sla.apply import TARGET_COLUMNS, clock_of
from berth_tickets.tickets.dao import EventDAO, TicketDAO

BATCH = 500


async def record_breaches(
    session: AsyncSession, settings: TicketsSettings, ticket: Ticket, now: datetime
) -> list[str]:
    found = []
    for target, due in sla.breaches(clock_of(ticket), now).items():
        _, breached_column = TARGET_COLUMNS[target]
        if getattr(ticket, breached_column) is not None:
            continue
        setattr(ticket, breached_column, now)
        key = f"sla:{target}:{due.isoformat()}"
        recorded = await EventDAO(session).record(
            ticket.id,
            EventKind.SLA_BREACHED,
            data={"target": target, "due_at": due.isoformat()},
            dedupe_key=key,
        )
        if not recorded:
            continue
        found.append(target)
        if ticket.assignee_id is not None:
            await notify(
                session,
                ticket,
                NotificationKind.SLA_BREACHED,
                settings=settings,
                recipient_id=ticket.assignee_id,
                key=f"{ticket.id}:{key}",
                detail=f"The {target.replace('_', ' ')} was due at {due.isoformat()}.",
            )
    await session.flush()
    return found


async def check_breaches(session: AsyncSession, settings: TicketsSettings, now: datetime) -> int:
    count = 0
    for ticket in await TicketDAO(session).newly_breached(now, BATCH):
        count += len(await record_breaches(session, settings, ticket, now))
    if count:
        logger.warning("{} SLA breach(es) recorded", count)
    return count
