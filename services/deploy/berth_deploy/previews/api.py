"""An app's preview apps, one per branch: list them, ask for one by hand (the branch's newest
commit from the app's repository), delete one. A preview is an app: the normal app endpoints
(logs, env, operations) work on it by its own id."""

import uuid

from fastapi import status

from berth_common.db import SessionDep
from berth_common.errors import Conflict, NotFound, Unprocessable, error_responses
from berth_common.routing import user_router
from berth_common.security import CurrentUserId
from berth_deploy.apps import service as apps
from berth_deploy.apps.schemas import App
from berth_deploy.deps import SettingsDep
from berth_deploy.operations.schemas import Operation
from berth_deploy.previews import service
from berth_deploy.previews.schemas import PreviewCreate, PreviewDeployment

router = user_router(
    prefix="/api/deploy/v1/apps/{app_id}/previews", tags=["previews"], errors=(NotFound,)
)


@router.get("", response_model=list[App], description="The app's live previews, oldest first.")
async def list_previews(
    app_id: uuid.UUID, owner: CurrentUserId, session: SessionDep, settings: SettingsDep
) -> list[App]:
    parent = await apps.get_app(session, app_id, owner)
    return await apps.app_outs(session, settings, await service.list_previews(session, parent))


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PreviewDeployment,
    responses=error_responses(Conflict, Unprocessable),
    description="Make (or find) the branch's preview and deploy the branch's newest commit on "
    "it. 409: the app has as many previews as it may; 422: not a branch that can be previewed.",
)
async def create_preview(
    app_id: uuid.UUID,
    body: PreviewCreate,
    owner: CurrentUserId,
    session: SessionDep,
    settings: SettingsDep,
) -> PreviewDeployment:
    parent = await apps.get_app(session, app_id, owner)
    preview, op = await service.request_preview(session, settings, parent, body.branch, owner)
    [out] = await apps.app_outs(session, settings, [preview])
    return PreviewDeployment(preview=out, operation=Operation.of(op))


@router.delete(
    "/{preview_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Operation,
    responses=error_responses(Conflict),
    description="Stops the preview, removes its route and its files. 202: in progress.",
)
async def delete_preview(
    app_id: uuid.UUID, preview_id: uuid.UUID, owner: CurrentUserId, session: SessionDep
) -> Operation:
    parent = await apps.get_app(session, app_id, owner)
    return Operation.of(await service.delete_preview(session, parent, preview_id, owner))
