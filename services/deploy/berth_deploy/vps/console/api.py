"""Console tokens (the VPS's owner; anyone else gets 404, as for the VPS itself) and the
admins' audit of console sessions (the gateway checks the admin role; so does this)."""

import uuid
from typing import Annotated

from fastapi import Query, status

from berth_common.db import SessionDep
from berth_common.errors import Unprocessable, error_responses
from berth_common.pagination import PageDep
from berth_common.routing import role_router, user_router
from berth_common.security import CurrentUserId
from berth_deploy.deps import SettingsDep
from berth_deploy.vps.console import service
from berth_deploy.vps.console.schemas import ConsoleSession, ConsoleSessionPage, ConsoleToken

router = user_router(
    prefix="/api/deploy/v1/vps/{vps_id}/console-tokens",
    tags=["vps console"],
    errors=(service.VpsNotFound,),
)
admin_router = role_router("admin", prefix="/api/deploy/v1/admin/vps", tags=["vps console"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ConsoleToken,
    responses=error_responses(service.ConsoleUnavailable),
)
async def create_console_token(
    vps_id: uuid.UUID, owner: CurrentUserId, session: SessionDep, settings: SettingsDep
) -> ConsoleToken:
    token, expires_at = await service.mint_token(session, settings, vps_id, owner)
    return ConsoleToken(
        token=token, url=service.console_url(settings, vps_id, token), expires_at=expires_at
    )


@admin_router.get(
    "/console-sessions",
    response_model=ConsoleSessionPage,
    responses=error_responses(Unprocessable),
)
async def list_console_sessions(
    session: SessionDep,
    params: PageDep,
    vps_id: Annotated[uuid.UUID | None, Query()] = None,
    user_id: Annotated[uuid.UUID | None, Query()] = None,
    open_only: Annotated[bool, Query(alias="open")] = False,
) -> ConsoleSessionPage:
    found, total = await service.list_sessions(
        session, params, vps_id=vps_id, user_id=user_id, open_only=open_only
    )
    return ConsoleSessionPage.build(
        [ConsoleSession.model_validate(s) for s in found], total, params
    )
