"""Admin views (the gateway checks the admin role; so does this service): every user's apps,
acting on them, and the template catalog."""

import uuid
from typing import Annotated

from fastapi import Query, Request, status
from fastapi.responses import StreamingResponse

from berth_common.db import SessionDep
from berth_common.errors import (
    Conflict,
    NotFound,
    RateLimited,
    Unprocessable,
    error_responses,
)
from berth_common.pagination import PageDep
from berth_common.routing import role_router
from berth_common.security import AdminUser
from berth_deploy.admin import service
from berth_deploy.admin.schemas import Isolation, SuspensionCreate
from berth_deploy.apps import service as apps
from berth_deploy.apps.api import Search, StatusFilter, TemplateKey
from berth_deploy.apps.schemas import AppDetail, AppPage
from berth_deploy.deps import CipherDep, LogStoreDep, SettingsDep, actor_id
from berth_deploy.enums import LogKind, OperationKind, OperationOrigin
from berth_deploy.logs import api as logs_api
from berth_deploy.logs.schemas import LogPage
from berth_deploy.operations import service as operations
from berth_deploy.operations.schemas import Operation, OperationPage
from berth_deploy.operations.service import request_operation
from berth_deploy.templates import service as templates
from berth_deploy.templates.schemas import Template, TemplateCreate, TemplateUpdate

router = role_router("admin", prefix="/api/deploy/v1/admin", tags=["admin"])
ACCEPTED = {"status_code": status.HTTP_202_ACCEPTED, "response_model": Operation}


# the path keeps its name: the admin panel reads it
@router.get("/runtime", response_model=Isolation)
async def get_isolation(settings: SettingsDep) -> Isolation:
    return service.isolation(settings)


@router.get("/apps", response_model=AppPage, responses=error_responses(Unprocessable))
async def list_apps(
    session: SessionDep,
    settings: SettingsDep,
    params: PageDep,
    owner_id: Annotated[uuid.UUID | None, Query()] = None,
    status: StatusFilter = None,
    template: TemplateKey = None,
    q: Search = None,
) -> AppPage:
    found, total = await apps.list_apps(
        session, params, owner_id=owner_id, status=status, template=template, q=q
    )
    return AppPage.build(await apps.app_outs(session, settings, found), total, params)


@router.get("/apps/{app_id}", response_model=AppDetail, responses=error_responses(NotFound))
async def get_app(app_id: uuid.UUID, session: SessionDep, settings: SettingsDep) -> AppDetail:
    return await apps.app_detail(session, settings, await apps.get_app(session, app_id, None))


async def _act(session, admin, app_id, kind, reason=None) -> Operation:
    await apps.get_app(session, app_id, None)
    op = await request_operation(
        session,
        app_id,
        kind,
        requested_by=actor_id(admin),
        origin=OperationOrigin.ADMIN,
        reason=reason,
    )
    return Operation.of(op)


@router.post("/apps/{app_id}/stop", **ACCEPTED, responses=error_responses(NotFound, Conflict))
async def stop_app(app_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> Operation:
    return await _act(session, admin, app_id, OperationKind.STOP)


@router.post("/apps/{app_id}/start", **ACCEPTED, responses=error_responses(NotFound, Conflict))
async def start_app(app_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> Operation:
    return await _act(session, admin, app_id, OperationKind.START)


@router.post("/apps/{app_id}/restart", **ACCEPTED, responses=error_responses(NotFound, Conflict))
async def restart_app(app_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> Operation:
    return await _act(session, admin, app_id, OperationKind.RESTART)


@router.post("/apps/{app_id}/suspend", **ACCEPTED, responses=error_responses(NotFound, Conflict))
async def suspend_app(
    app_id: uuid.UUID, body: SuspensionCreate, admin: AdminUser, session: SessionDep
) -> Operation:
    """Stop the app and keep it down (the owner cannot start it) until an admin unsuspends."""
    return await _act(session, admin, app_id, OperationKind.SUSPEND, reason=body.clean_reason())


@router.post("/apps/{app_id}/unsuspend", **ACCEPTED, responses=error_responses(NotFound, Conflict))
async def unsuspend_app(app_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> Operation:
    return await _act(session, admin, app_id, OperationKind.RESUME)


@router.delete("/apps/{app_id}", **ACCEPTED, responses=error_responses(NotFound, Conflict))
async def delete_app(app_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> Operation:
    return await _act(session, admin, app_id, OperationKind.DELETE)


@router.get(
    "/apps/{app_id}/operations",
    response_model=OperationPage,
    responses=error_responses(NotFound),
)
async def list_operations(app_id: uuid.UUID, session: SessionDep, params: PageDep) -> OperationPage:
    await apps.get_app(session, app_id, None)
    ops, total = await operations.list_operations(session, app_id, params, None)
    return OperationPage.build([Operation.of(o) for o in ops], total, params)


@router.get("/apps/{app_id}/logs", response_model=LogPage, responses=error_responses(NotFound))
async def get_logs(
    app_id: uuid.UUID,
    session: SessionDep,
    store: LogStoreDep,
    cipher: CipherDep,
    release_id: logs_api.ReleaseId = None,
    kind: LogKind = LogKind.BUILD,
    offset: logs_api.Offset = 0,
    limit_bytes: logs_api.LimitBytes = 65536,
) -> LogPage:
    app = await apps.get_app(session, app_id, None)
    return await logs_api.history(
        session, store, cipher, app, release_id, kind, offset, limit_bytes
    )


@router.get(
    "/apps/{app_id}/logs/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}},
        **error_responses(NotFound, RateLimited),
    },
)
async def stream_logs(
    request: Request,
    app_id: uuid.UUID,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    store: LogStoreDep,
    cipher: CipherDep,
    release_id: logs_api.ReleaseId = None,
    kind: LogKind = LogKind.BUILD,
    offset: logs_api.Offset = 0,
    last_event_id: logs_api.LastEventId = None,
) -> StreamingResponse:
    app = await apps.get_app(session, app_id, None)
    return await logs_api.live(
        request,
        session,
        settings,
        admin.subject,
        store,
        cipher,
        app,
        release_id,
        kind,
        offset,
        last_event_id,
    )


@router.get("/templates", response_model=list[Template])
async def list_templates(session: SessionDep) -> list[Template]:
    return [Template.model_validate(t) for t in await templates.all_templates(session)]


@router.post(
    "/templates",
    status_code=status.HTTP_201_CREATED,
    response_model=Template,
    responses=error_responses(Conflict, Unprocessable),
)
async def create_template(body: TemplateCreate, admin: AdminUser, session: SessionDep) -> Template:
    return Template.model_validate(await service.create_template(session, body))


@router.put(
    "/templates/{key}",
    response_model=Template,
    responses=error_responses(NotFound, Unprocessable),
)
async def update_template(
    key: str, body: TemplateUpdate, admin: AdminUser, session: SessionDep
) -> Template:
    return Template.model_validate(await service.update_template(session, key, body))
