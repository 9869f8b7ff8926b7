"""Monitoring's incidents as the desk knows them, and which tickets they concern.

- `monitoring.incident.opened` / `.resolved` (at least once, any order) upsert the incident;
  its app comes from the payload's `app_id` or a group key "app:<uuid>".
- A ticket opened about an app (link kind app) while the app has an open incident is linked
  to it; a ticket about an incident (link kind incident) is linked to that incident.
- Staff answer every ticket of an incident at once (staff.service.reply_to_incident).
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_tickets.enums import EventKind, IncidentLinkOrigin, IncidentStatus, LinkKind
from berth_tickets.incidents.dao import IncidentDAO, IncidentLinkDAO
from berth_tickets.incidents.models import Incident
from berth_tickets.models import Ticket
from berth_tickets.tickets.dao import EventDAO

TITLE_MAX = 300


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _moment(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def app_of(payload: dict[str, Any]) -> uuid.UUID | None:
    if app_id := _uuid(payload.get("app_id")):
        return app_id
    group_key = str(payload.get("group_key") or "")
    return _uuid(group_key.removeprefix("app:")) if group_key.startswith("app:") else None


async def record(session: AsyncSession, payload: dict[str, Any], status: IncidentStatus) -> bool:
    """Store what an incident event says; False for a payload without an id or owner."""
    incident_id = _uuid(payload.get("incident_id") or payload.get("id"))
    owner_id = _uuid(payload.get("owner_id"))
    if incident_id is None or owner_id is None:
        logger.warning("incident event without incident_id/owner_id ignored")
        return False
    now = datetime.now(UTC)
    await IncidentDAO(session).upsert(
        id=incident_id,
        owner_id=owner_id,
        group_key=str(payload.get("group_key") or "")[:300],
        app_id=app_of(payload),
        title=str(payload.get("title") or "Incident")[:TITLE_MAX],
        status=status,
        opened_at=_moment(payload.get("opened_at")) or now,
        resolved_at=_moment(payload.get("resolved_at")) or (now if status == "resolved" else None),
        updated_at=now,
    )
    return True


async def link(
    session: AsyncSession, ticket: Ticket, incident_id: uuid.UUID, origin: IncidentLinkOrigin
) -> bool:
    linked = await IncidentLinkDAO(session).link(ticket.id, incident_id, origin)
    if linked:
        await EventDAO(session).record(
            ticket.id,
            EventKind.INCIDENT_LINKED,
            data={"incident_id": str(incident_id), "origin": origin},
            dedupe_key=f"incident:{incident_id}",
        )
    return linked


async def link_new_ticket(
    session: AsyncSession, ticket: Ticket, linked: dict[str, Any] | None
) -> list[uuid.UUID]:
    """A new ticket's incidents: the one it is about, or its app's open ones."""
    found: list[uuid.UUID] = []
    if ticket.link_kind == LinkKind.INCIDENT and ticket.link_id is not None:
        if await IncidentDAO(session).get(ticket.link_id) is None and linked is not None:
            # monitoring showed it to its owner before its event reached us
            await record(
                session,
                {**linked, "incident_id": ticket.link_id},
                IncidentStatus(
                    linked.get("status") if linked.get("status") in ("open", "resolved") else "open"
                ),
            )
        if await IncidentDAO(session).get(ticket.link_id) is not None:
            await link(session, ticket, ticket.link_id, IncidentLinkOrigin.CUSTOMER)
            found.append(ticket.link_id)
    if ticket.link_kind == LinkKind.APP and ticket.link_id is not None:
        for incident in await IncidentDAO(session).open_for_app(ticket.owner_id, ticket.link_id):
            await link(session, ticket, incident.id, IncidentLinkOrigin.AUTO)
            found.append(incident.id)
    return found


async def get(session: AsyncSession, incident_id: uuid.UUID) -> Incident:
    return await IncidentDAO(session).get_or_404(incident_id)


async def of_ticket(session: AsyncSession, ticket_id: uuid.UUID) -> list[Incident]:
    return await IncidentDAO(session).of_ticket(ticket_id)
