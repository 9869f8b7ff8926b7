"""Admin: the last received emails and what became of each (no silent mail failures)."""

from fastapi import Query

from berth_common.db import SessionDep
from berth_common.pagination import PageDep
from berth_common.routing import role_router
from berth_tickets.enums import InboundOutcome
from berth_tickets.inbound import schemas, service

router = role_router("admin", prefix="/api/tickets/v1/admin/inbound-emails", tags=["admin"])


@router.get("", response_model=schemas.InboundEmailPage)
async def inbound_emails(
    session: SessionDep,
    params: PageDep,
    outcome: InboundOutcome | None = Query(None, description="only this outcome"),
) -> schemas.InboundEmailPage:
    """Newest first, with how many received mails are not processed yet."""
    return await service.recent(session, params, outcome)
