"""Queries of the incidents monitoring told us about and their links to tickets."""

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from berth_common.dao import BaseDAO
from berth_tickets.enums import IncidentStatus
from berth_tickets.incidents.models import Incident, TicketIncidentLink


class IncidentDAO(BaseDAO[Incident]):
    model = Incident
    not_found_message = "Incident not found"

    async def upsert(self, **values) -> None:
        """Insert or refresh what monitoring said; a resolution is never undone by a late
        'opened' delivered after it."""
        stmt = pg_insert(Incident).values(**values)
        updates = {
            "title": stmt.excluded.title,
            "group_key": stmt.excluded.group_key,
            "app_id": stmt.excluded.app_id,
            "updated_at": stmt.excluded.updated_at,
        }
        if values.get("status") == IncidentStatus.RESOLVED:
            updates |= {"status": stmt.excluded.status, "resolved_at": stmt.excluded.resolved_at}
        await self.session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=updates))

    async def open_for_app(self, owner_id: uuid.UUID, app_id: uuid.UUID) -> list[Incident]:
        stmt = (
            select(Incident)
            .where(
                Incident.owner_id == owner_id,
                Incident.app_id == app_id,
                Incident.status == IncidentStatus.OPEN,
            )
            .order_by(Incident.opened_at)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def of_ticket(self, ticket_id: uuid.UUID) -> list[Incident]:
        stmt = (
            select(Incident)
            .join(TicketIncidentLink, TicketIncidentLink.incident_id == Incident.id)
            .where(TicketIncidentLink.ticket_id == ticket_id)
            .order_by(Incident.opened_at)
        )
        return list((await self.session.execute(stmt)).scalars().all())


class IncidentLinkDAO(BaseDAO[TicketIncidentLink]):
    model = TicketIncidentLink

    async def link(self, ticket_id: uuid.UUID, incident_id: uuid.UUID, origin: str) -> bool:
        """False when the ticket was linked to the incident already."""
        stmt = (
            pg_insert(TicketIncidentLink)
            .values(ticket_id=ticket_id, incident_id=incident_id, origin=origin)
            .on_conflict_do_nothing()
            .returning(TicketIncidentLink.ticket_id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def copy_links(self, source_id: uuid.UUID, target_id: uuid.UUID) -> None:
        stmt = select(TicketIncidentLink).where(TicketIncidentLink.ticket_id == source_id)
        for row in (await self.session.execute(stmt)).scalars().all():
            await self.link(target_id, row.incident_id, row.origin)
