"""A person's VPSes: the plan catalog, ordering, reading, actions, resize, snapshots,
operations, deleting. Everything that changes the machine answers 202 with an operation."""

import uuid
from typing import Annotated

from fastapi import Path, Query, status

from berth_common.db import SessionDep
from berth_common.errors import (
    Conflict,
    NotFound,
    Unprocessable,
    error_responses,
)
from berth_common.pagination import PageDep
from berth_common.routing import user_router
from berth_common.security import CurrentUserId
from berth_deploy.deps import PlansDep, SettingsDep, VpsDriverDep
from berth_deploy.enums import OperationOrigin
from berth_deploy.vps import service, views
from berth_deploy.vps.enums import USER_ACTIONS, VpsOperationKind, VpsStatus
from berth_deploy.vps.schemas import (
    Plan,
    ResizeRequest,
    Snapshot,
    SnapshotCreate,
    SnapshotCreated,
    StopRequest,
    Vps,
    VpsCreate,
    VpsCreated,
    VpsOperation,
    VpsOperationPage,
    VpsPage,
)

router = user_router(prefix="/api/deploy/v1/vps", tags=["vps"])
ACCEPTED = {"status_code": status.HTTP_202_ACCEPTED, "response_model": VpsOperation}
Action = Annotated[str, Path(pattern=f"^({'|'.join(USER_ACTIONS)})$")]
StatusFilter = Annotated[
    str | None,
    Query(pattern=f"^({'|'.join(s.value for s in VpsStatus if s != VpsStatus.DELETED)})$"),
]


@router.get("/plans", response_model=list[Plan])
async def list_plans(settings: SettingsDep, plans: PlansDep) -> list[Plan]:
    """The VPS plans on offer, with billing's hourly price when billing answers."""
    return await views.plans_out(settings, plans)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=VpsCreated,
    responses=error_responses(Conflict, Unprocessable, service.NoHypervisor),
)
async def create_vps(
    body: VpsCreate,
    owner: CurrentUserId,
    session: SessionDep,
    settings: SettingsDep,
    driver: VpsDriverDep,
) -> VpsCreated:
    """Order a VPS: it is made and booted by an operation (status `creating` until SSH
    answers), on a node that runs VPSes. 409: the name is in use, or the VPS quota is used
    up; 503: no node can run VPSes."""
    kind = driver.kind if driver is not None else None
    vps, op = await service.create_vps(session, settings, kind, owner, body)
    hosts = await service.node_hosts(session)
    return VpsCreated(
        vps=views.vps_out(settings, vps, hosts), operation=VpsOperation.model_validate(op)
    )


@router.get("", response_model=VpsPage, responses=error_responses(Unprocessable))
async def list_vps(
    owner: CurrentUserId,
    session: SessionDep,
    settings: SettingsDep,
    params: PageDep,
    status: StatusFilter = None,
) -> VpsPage:
    found, total = await service.list_vps(session, params, owner_id=owner, status=status)
    hosts = await service.node_hosts(session)
    return VpsPage.build([views.vps_out(settings, v, hosts) for v in found], total, params)


@router.get("/{vps_id}", response_model=Vps, responses=error_responses(NotFound))
async def get_vps(
    vps_id: uuid.UUID, owner: CurrentUserId, session: SessionDep, settings: SettingsDep
) -> Vps:
    vps = await service.get_vps(session, vps_id, owner)
    return views.vps_out(settings, vps, await service.node_hosts(session))


async def _ask(session, vps_id, owner, kind, params=None) -> VpsOperation:
    await service.get_vps(session, vps_id, owner)
    op = await service.request_operation(
        session, vps_id, kind, requested_by=owner, origin=OperationOrigin.USER, params=params
    )
    return VpsOperation.model_validate(op)


@router.delete("/{vps_id}", **ACCEPTED, responses=error_responses(NotFound, Conflict))
async def delete_vps(vps_id: uuid.UUID, owner: CurrentUserId, session: SessionDep) -> VpsOperation:
    """The machine, its disk and its snapshots are destroyed."""
    return await _ask(session, vps_id, owner, VpsOperationKind.DELETE)


@router.post(
    "/{vps_id}/actions/{action}",
    **ACCEPTED,
    responses=error_responses(NotFound, Conflict, Unprocessable),
    description='start | stop (body {"hard": bool}) | reboot (soft) | reset (hard) | '
    "reinstall (a fresh disk from the image, same keys and hostname).",
)
async def act(
    vps_id: uuid.UUID,
    action: Action,
    owner: CurrentUserId,
    session: SessionDep,
    body: StopRequest | None = None,
) -> VpsOperation:
    kind = USER_ACTIONS[action]
    if body is not None and body.hard and kind != VpsOperationKind.STOP:
        raise Unprocessable("Only stop takes `hard`", details={"field": "hard"})
    params = {"hard": bool(body and body.hard)} if kind == VpsOperationKind.STOP else None
    return await _ask(session, vps_id, owner, kind, params)


@router.post(
    "/{vps_id}/resize", **ACCEPTED, responses=error_responses(NotFound, Conflict, Unprocessable)
)
async def resize(
    vps_id: uuid.UUID,
    body: ResizeRequest,
    owner: CurrentUserId,
    session: SessionDep,
    settings: SettingsDep,
) -> VpsOperation:
    """New vCPUs, memory or disk within the plan's limits (the disk only grows); a running
    machine is restarted to take them."""
    vps = await service.get_vps(session, vps_id, owner)
    return VpsOperation.model_validate(
        await service.request_resize(session, settings, vps, body, owner)
    )


@router.get(
    "/{vps_id}/snapshots", response_model=list[Snapshot], responses=error_responses(NotFound)
)
async def list_snapshots(
    vps_id: uuid.UUID, owner: CurrentUserId, session: SessionDep
) -> list[Snapshot]:
    vps = await service.get_vps(session, vps_id, owner)
    return [Snapshot.model_validate(s) for s in await service.list_snapshots(session, vps)]


@router.post(
    "/{vps_id}/snapshots",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SnapshotCreated,
    responses=error_responses(NotFound, Conflict, Unprocessable),
)
async def create_snapshot(
    vps_id: uuid.UUID,
    owner: CurrentUserId,
    session: SessionDep,
    settings: SettingsDep,
    body: SnapshotCreate | None = None,
) -> SnapshotCreated:
    """A consistent snapshot of the disk (the guest is paused while it is taken)."""
    vps = await service.get_vps(session, vps_id, owner)
    snapshot, op = await service.request_snapshot(
        session, settings, vps, body.name if body else None, owner
    )
    return SnapshotCreated(
        snapshot=Snapshot.model_validate(snapshot), operation=VpsOperation.model_validate(op)
    )


@router.post(
    "/{vps_id}/snapshots/{snapshot_id}/restore",
    **ACCEPTED,
    responses=error_responses(NotFound, Conflict),
)
async def restore_snapshot(
    vps_id: uuid.UUID, snapshot_id: uuid.UUID, owner: CurrentUserId, session: SessionDep
) -> VpsOperation:
    """The disk goes back to the snapshot; a running machine is restarted on it."""
    vps = await service.get_vps(session, vps_id, owner)
    return VpsOperation.model_validate(
        await service.request_restore(session, vps, snapshot_id, owner)
    )


@router.delete(
    "/{vps_id}/snapshots/{snapshot_id}", **ACCEPTED, responses=error_responses(NotFound, Conflict)
)
async def delete_snapshot(
    vps_id: uuid.UUID, snapshot_id: uuid.UUID, owner: CurrentUserId, session: SessionDep
) -> VpsOperation:
    vps = await service.get_vps(session, vps_id, owner)
    return VpsOperation.model_validate(
        await service.request_snapshot_delete(session, vps, snapshot_id, owner)
    )


@router.get(
    "/{vps_id}/operations", response_model=VpsOperationPage, responses=error_responses(NotFound)
)
async def list_operations(
    vps_id: uuid.UUID, owner: CurrentUserId, session: SessionDep, params: PageDep
) -> VpsOperationPage:
    vps = await service.get_vps(session, vps_id, owner)
    ops, total = await service.list_operations(session, vps, params)
    return VpsOperationPage.build([VpsOperation.model_validate(o) for o in ops], total, params)


@router.get(
    "/{vps_id}/operations/{operation_id}",
    response_model=VpsOperation,
    responses=error_responses(NotFound),
)
async def get_operation(
    vps_id: uuid.UUID, operation_id: uuid.UUID, owner: CurrentUserId, session: SessionDep
) -> VpsOperation:
    vps = await service.get_vps(session, vps_id, owner)
    return VpsOperation.model_validate(await service.get_operation(session, vps, operation_id))
