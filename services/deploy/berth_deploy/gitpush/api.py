"""An app's deploy tokens (owner only: anyone else gets 404, as for the app itself)."""

import uuid

from fastapi import status

from berth_common.db import SessionDep
from berth_common.errors import Conflict, NotFound, error_responses
from berth_common.routing import user_router
from berth_common.security import CurrentUserId
from berth_deploy.apps.service import get_app
from berth_deploy.deps import SettingsDep
from berth_deploy.enums import AppStatus
from berth_deploy.gitpush import service
from berth_deploy.gitpush.schemas import DeployToken, DeployTokenCreate, DeployTokenCreated

router = user_router(
    prefix="/api/deploy/v1/apps/{app_id}/deploy-tokens", tags=["git push"], errors=(NotFound,)
)


@router.get("", response_model=list[DeployToken])
async def list_tokens(
    app_id: uuid.UUID, owner: CurrentUserId, session: SessionDep
) -> list[DeployToken]:
    app = await get_app(session, app_id, owner)
    return [DeployToken.model_validate(t) for t in await service.list_tokens(session, app)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DeployTokenCreated,
    responses=error_responses(Conflict),
)
async def create_token(
    app_id: uuid.UUID,
    body: DeployTokenCreate,
    owner: CurrentUserId,
    session: SessionDep,
    settings: SettingsDep,
) -> DeployTokenCreated:
    app = await get_app(session, app_id, owner)
    if app.status in (AppStatus.DELETING, AppStatus.DELETED):
        raise Conflict("The app is being deleted", code="illegal_transition")
    row, token = await service.create_token(session, settings, app, body.name, owner)
    return DeployTokenCreated(
        **DeployToken.model_validate(row).model_dump(),
        token=token,
        remote_url=service.remote_url(settings, app.slug),
    )


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(
    app_id: uuid.UUID, token_id: uuid.UUID, owner: CurrentUserId, session: SessionDep
) -> None:
    app = await get_app(session, app_id, owner)
    await service.revoke_token(session, app, token_id)
