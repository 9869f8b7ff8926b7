"""Deployments and the other operations on a person's app. Every one answers 202 with the
operation at once; its status says how it goes (poll it, or watch the logs)."""

import uuid

from fastapi import status

from berth_common.db import SessionDep
from berth_common.errors import Conflict, NotFound, error_responses
from berth_common.pagination import PageDep
from berth_common.routing import user_router
from berth_common.security import CurrentUserId
from berth_deploy.apps.service import get_app
from berth_deploy.enums import OperationKind, OperationOrigin
from berth_deploy.operations import service as operations
from berth_deploy.operations.lifecycle import DEPLOY_KINDS
from berth_deploy.operations.schemas import (
    DeploymentCreate,
    Operation,
    OperationPage,
    ReleasePage,
    RollbackCreate,
)
from berth_deploy.operations.service import cancel_operation, request_operation
from berth_deploy.releases import service as releases

router = user_router(
    prefix="/api/deploy/v1/apps/{app_id}", tags=["deployments"], errors=(NotFound,)
)
ACCEPTED = {"status_code": status.HTTP_202_ACCEPTED, "response_model": Operation}


async def _request(session, app_id, owner, kind, release_id=None) -> Operation:
    await get_app(session, app_id, owner)
    op = await request_operation(
        session,
        app_id,
        kind,
        requested_by=owner,
        origin=OperationOrigin.USER,
        release_id=release_id,
    )
    return Operation.of(op)


@router.post("/deployments", **ACCEPTED, responses=error_responses(Conflict))
async def create_deployment(
    app_id: uuid.UUID,
    owner: CurrentUserId,
    session: SessionDep,
    body: DeploymentCreate | None = None,
) -> Operation:
    """Build the latest commit of the app's branch and roll it out with no downtime."""
    return await _request(session, app_id, owner, OperationKind.DEPLOY)


@router.get("/deployments", response_model=OperationPage)
async def list_deployments(
    app_id: uuid.UUID, owner: CurrentUserId, session: SessionDep, params: PageDep
) -> OperationPage:
    await get_app(session, app_id, owner)
    ops, total = await operations.list_operations(session, app_id, params, DEPLOY_KINDS)
    return OperationPage.build([Operation.of(o) for o in ops], total, params)


@router.get("/deployments/{operation_id}", response_model=Operation)
async def get_deployment(
    app_id: uuid.UUID, operation_id: uuid.UUID, owner: CurrentUserId, session: SessionDep
) -> Operation:
    await get_app(session, app_id, owner)
    op = await operations.get_operation(session, app_id, operation_id, DEPLOY_KINDS)
    return Operation.of(op)


@router.post("/deployments/{operation_id}/cancel", **ACCEPTED, responses=error_responses(Conflict))
async def cancel_deployment(
    app_id: uuid.UUID, operation_id: uuid.UUID, owner: CurrentUserId, session: SessionDep
) -> Operation:
    """Queued: cancelled at once. Building or starting: its processes are killed within a
    heartbeat and the app keeps what it ran before."""
    await get_app(session, app_id, owner)
    await operations.get_operation(session, app_id, operation_id, DEPLOY_KINDS)
    return Operation.of(await cancel_operation(session, app_id, operation_id))


@router.get("/operations", response_model=OperationPage)
async def list_operations(
    app_id: uuid.UUID, owner: CurrentUserId, session: SessionDep, params: PageDep
) -> OperationPage:
    await get_app(session, app_id, owner)
    ops, total = await operations.list_operations(session, app_id, params, None)
    return OperationPage.build([Operation.of(o) for o in ops], total, params)


@router.get("/operations/{operation_id}", response_model=Operation)
async def get_operation(
    app_id: uuid.UUID, operation_id: uuid.UUID, owner: CurrentUserId, session: SessionDep
) -> Operation:
    await get_app(session, app_id, owner)
    return Operation.of(await operations.get_operation(session, app_id, operation_id, None))


@router.post("/operations/{operation_id}/cancel", **ACCEPTED, responses=error_responses(Conflict))
async def cancel(
    app_id: uuid.UUID, operation_id: uuid.UUID, owner: CurrentUserId, session: SessionDep
) -> Operation:
    await get_app(session, app_id, owner)
    await operations.get_operation(session, app_id, operation_id, None)
    return Operation.of(await cancel_operation(session, app_id, operation_id))


@router.post("/rollback", **ACCEPTED, responses=error_responses(Conflict))
async def rollback(
    app_id: uuid.UUID, owner: CurrentUserId, session: SessionDep, body: RollbackCreate | None = None
) -> Operation:
    """Re-activate an earlier build (default: the one before the current release)."""
    release_id = body.release_id if body else None
    return await _request(session, app_id, owner, OperationKind.ROLLBACK, release_id)


@router.post("/start", **ACCEPTED, responses=error_responses(Conflict))
async def start(app_id: uuid.UUID, owner: CurrentUserId, session: SessionDep) -> Operation:
    return await _request(session, app_id, owner, OperationKind.START)


@router.post("/stop", **ACCEPTED, responses=error_responses(Conflict))
async def stop(app_id: uuid.UUID, owner: CurrentUserId, session: SessionDep) -> Operation:
    return await _request(session, app_id, owner, OperationKind.STOP)


@router.post("/restart", **ACCEPTED, responses=error_responses(Conflict))
async def restart(app_id: uuid.UUID, owner: CurrentUserId, session: SessionDep) -> Operation:
    """A new instance of the current release, then the old one stops (no downtime for web)."""
    return await _request(session, app_id, owner, OperationKind.RESTART)


@router.get("/releases", response_model=ReleasePage)
async def list_releases(
    app_id: uuid.UUID, owner: CurrentUserId, session: SessionDep, params: PageDep
) -> ReleasePage:
    app = await get_app(session, app_id, owner)
    items, total = await releases.list_releases(session, app, params)
    return ReleasePage.build(items, total, params)
