"""A person's own apps: create, list, read, change, delete."""

import uuid
from typing import Annotated

from fastapi import Depends, Query, status

from berth_common.db import SessionDep
from berth_common.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unprocessable,
    error_responses,
)
from berth_common.pagination import PageDep
from berth_common.routing import guarded_router, user_router
from berth_common.security import (
    CurrentUser,
    CurrentUserId,
    Principal,
    PrincipalKind,
    require_scope,
)
from berth_deploy.apps import service
from berth_deploy.apps.schemas import AppCreate, AppDetail, AppPage, AppUpdate
from berth_deploy.deps import CipherDep, PlansDep, SettingsDep
from berth_deploy.enums import AppStatus, OperationKind, OperationOrigin
from berth_deploy.instances.api import READ_SCOPE
from berth_deploy.operations.schemas import Operation
from berth_deploy.operations.service import request_operation

router = user_router(prefix="/api/deploy/v1/apps", tags=["apps"])

# a deleted app is never listed: its status is no filter
LISTED_STATUSES = [s.value for s in AppStatus if s != AppStatus.DELETED]
StatusFilter = Annotated[str | None, Query(pattern=f"^({'|'.join(LISTED_STATUSES)})$")]
TemplateKey = Annotated[str | None, Query(min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$")]
Search = Annotated[str | None, Query(min_length=1, max_length=80, pattern=r"^[^\x00-\x1f\x7f]+$")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AppDetail,
    responses=error_responses(Conflict, Unprocessable),
)
async def create_app(
    body: AppCreate,
    owner: CurrentUserId,
    session: SessionDep,
    settings: SettingsDep,
    cipher: CipherDep,
    plans: PlansDep,
) -> AppDetail:
    """409: the slug is taken or held, or the plan's apps per person are all in use."""
    app = await service.create_app(session, settings, cipher, plans, owner, body)
    return await service.app_detail(session, settings, app)


@router.get(
    "",
    response_model=AppPage,
    responses=error_responses(Unprocessable),
    description="Your apps, newest first; sort by created_at, updated_at, slug, name, status.",
)
async def list_apps(
    owner: CurrentUserId,
    session: SessionDep,
    settings: SettingsDep,
    params: PageDep,
    status: StatusFilter = None,
    template: TemplateKey = None,
    q: Search = None,
) -> AppPage:
    apps, total = await service.list_apps(
        session, params, owner_id=owner, status=status, template=template, q=q
    )
    return AppPage.build(await service.app_outs(session, settings, apps), total, params)


@router.get("/{app_id}", response_model=AppDetail, responses=error_responses(NotFound))
async def get_app(
    app_id: uuid.UUID, owner: CurrentUserId, session: SessionDep, settings: SettingsDep
) -> AppDetail:
    app = await service.get_app(session, app_id, owner)
    return await service.app_detail(session, settings, app)


@router.patch(
    "/{app_id}",
    response_model=AppDetail,
    responses=error_responses(NotFound, Conflict, Unprocessable),
    description="Changes apply at the next deploy, start or restart.",
)
async def update_app(
    app_id: uuid.UUID,
    body: AppUpdate,
    owner: CurrentUserId,
    session: SessionDep,
    settings: SettingsDep,
    cipher: CipherDep,
) -> AppDetail:
    app = await service.get_app(session, app_id, owner)
    app = await service.update_app(session, settings, app, body, cipher)
    return await service.app_detail(session, settings, app)


@router.delete(
    "/{app_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Operation,
    responses=error_responses(NotFound, Conflict),
    description="Stops every instance, removes the route and the app's files. 202: in progress.",
)
async def delete_app(
    app_id: uuid.UUID, principal: CurrentUser, owner: CurrentUserId, session: SessionDep
) -> Operation:
    await service.get_app(session, app_id, owner)
    op = await request_operation(
        session, app_id, OperationKind.DELETE, requested_by=owner, origin=OperationOrigin.USER
    )
    return Operation.of(op)


async def _app_reader(
    principal: Annotated[Principal, Depends(require_scope(READ_SCOPE))],
) -> Principal:
    """Machine clients with deploy:read (chat asking whether an agent runs); people: admins."""
    if principal.kind == PrincipalKind.USER and not principal.is_admin:
        raise Forbidden("Requires role: admin")
    return principal


services_router = guarded_router(
    _app_reader, prefix="/api/deploy/v1/service/apps", tags=["service: apps"]
)


@services_router.get(
    "/{app_id}",
    response_model=AppDetail,
    responses=error_responses(NotFound),
    description="Any app by id, for the platform's services (its owner, template and status).",
)
async def service_get_app(
    app_id: uuid.UUID, session: SessionDep, settings: SettingsDep
) -> AppDetail:
    app = await service.get_app(session, app_id, None)
    return await service.app_detail(session, settings, app)
