"""GET /api/chat/v1/retention: how long my messages are kept (the panel's chat page says)."""

from fastapi import Request

from berth_chat.retention import schemas, service
from berth_common.db import SessionDep
from berth_common.routing import user_router
from berth_common.security import CurrentUserId

router = user_router(prefix="/api/chat/v1/retention", tags=["chat"])


@router.get("", response_model=schemas.Retention)
async def my_retention(
    session: SessionDep, owner_id: CurrentUserId, request: Request
) -> schemas.Retention:
    found = await service.retention_of(session, request.app.state.settings, owner_id)
    return schemas.Retention(tier=found.tier, days=found.days)
