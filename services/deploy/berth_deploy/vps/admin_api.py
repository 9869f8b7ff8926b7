"""Admins' view of every VPS (the gateway checks the admin role; so does this router): the
node it runs on, its kind and its resource use, and acting on it."""

import uuid
from typing import Annotated

from fastapi import Path, Query, status

from berth_common.db import SessionDep
from berth_common.errors import Conflict, NotFound, Unprocessable, error_responses
from berth_common.pagination import PageDep
from berth_common.routing import role_router
from berth_common.security import AdminUser
from berth_deploy.deps import SettingsDep, VpsDriverDep, actor_id
from berth_deploy.enums import OperationOrigin
from berth_deploy.vps import service, views
from berth_deploy.vps.api import StatusFilter
from berth_deploy.vps.enums import USER_ACTIONS, VpsOperationKind
from berth_deploy.vps.schemas import (
    AdminVps,
    AdminVpsPage,
    StopRequest,
    SuspensionCreate,
    VpsOperation,
    VpsOperationPage,
)

router = role_router("admin", prefix="/api/deploy/v1/admin/vps", tags=["admin: vps"])
ACCEPTED = {"status_code": status.HTTP_202_ACCEPTED, "response_model": VpsOperation}
ADMIN_ACTIONS = {
    **USER_ACTIONS,
    "suspend": VpsOperationKind.SUSPEND,
    "unsuspend": VpsOperationKind.RESUME,
}
Action = Annotated[str, Path(pattern=f"^({'|'.join(ADMIN_ACTIONS)})$")]


@router.get("", response_model=AdminVpsPage, responses=error_responses(Unprocessable))
async def list_vps(
    session: SessionDep,
    settings: SettingsDep,
    driver: VpsDriverDep,
    params: PageDep,
    owner_id: Annotated[uuid.UUID | None, Query()] = None,
    status: StatusFilter = None,
) -> AdminVpsPage:
    found, total = await service.list_vps(session, params, owner_id=owner_id, status=status)
    hosts = await service.node_hosts(session)
    items = [views.admin_out(settings, v, driver, hosts) for v in found]
    return AdminVpsPage.build(items, total, params)


@router.get("/{vps_id}", response_model=AdminVps, responses=error_responses(NotFound))
async def get_vps(
    vps_id: uuid.UUID, session: SessionDep, settings: SettingsDep, driver: VpsDriverDep
) -> AdminVps:
    vps = await service.get_vps(session, vps_id, None)
    return views.admin_out(settings, vps, driver, await service.node_hosts(session))


@router.post(
    "/{vps_id}/actions/{action}",
    **ACCEPTED,
    responses=error_responses(NotFound, Conflict, Unprocessable),
    description='The owner\'s actions, and suspend (body {"reason"}: stopped, and the owner '
    "cannot start it until an admin unsuspends) / unsuspend.",
)
async def act(
    vps_id: uuid.UUID,
    action: Action,
    admin: AdminUser,
    session: SessionDep,
    body: SuspensionCreate | StopRequest | None = None,
) -> VpsOperation:
    await service.get_vps(session, vps_id, None)
    kind = ADMIN_ACTIONS[action]
    params = None
    if kind == VpsOperationKind.STOP:
        params = {"hard": isinstance(body, StopRequest) and body.hard}
    reason = body.reason if isinstance(body, SuspensionCreate) else None
    if kind == VpsOperationKind.SUSPEND:
        reason = reason or "suspended by an admin"
    op = await service.request_operation(
        session, vps_id, kind, requested_by=actor_id(admin), origin=OperationOrigin.ADMIN,
        params=params, reason=reason,
    )  # fmt: skip
    return VpsOperation.model_validate(op)


@router.delete("/{vps_id}", **ACCEPTED, responses=error_responses(NotFound, Conflict))
async def delete_vps(vps_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> VpsOperation:
    await service.get_vps(session, vps_id, None)
    op = await service.request_operation(
        session, vps_id, VpsOperationKind.DELETE, requested_by=actor_id(admin),
        origin=OperationOrigin.ADMIN,
    )  # fmt: skip
    return VpsOperation.model_validate(op)


@router.get(
    "/{vps_id}/operations", response_model=VpsOperationPage, responses=error_responses(NotFound)
)
async def list_operations(
    vps_id: uuid.UUID, session: SessionDep, params: PageDep
) -> VpsOperationPage:
    vps = await service.get_vps(session, vps_id, None)
    ops, total = await service.list_operations(session, vps, params)
    return VpsOperationPage.build([VpsOperation.model_validate(o) for o in ops], total, params)
