"""The signed-in person's maintenance windows."""

import uuid
from typing import Literal

from fastapi import Response

from berth_common.db import SessionDep
from berth_common.errors import Conflict, NotFound, Unprocessable, error_responses
from berth_common.pagination import PageDep
from berth_common.routing import user_router
from berth_common.security import CurrentUserId
from berth_monitoring.maintenance import schemas, service

router = user_router(prefix="/api/monitoring/v1", tags=["maintenance"])


@router.get("/maintenance-windows", response_model=schemas.WindowPage)
async def list_windows(
    owner_id: CurrentUserId,
    session: SessionDep,
    params: PageDep,
    when: Literal["active", "upcoming", "past"] | None = None,
) -> schemas.WindowPage:
    items, total = await service.page(session, owner_id, params, when)
    return schemas.WindowPage.build(
        [schemas.Window.model_validate(w) for w in items], total, params
    )


@router.post(
    "/maintenance-windows",
    status_code=201,
    response_model=schemas.Window,
    responses=error_responses(Unprocessable),
)
async def create_window(body: schemas.WindowCreate, owner_id: CurrentUserId, session: SessionDep):
    return await service.create(session, owner_id, body)


@router.get(
    "/maintenance-windows/{window_id}",
    response_model=schemas.Window,
    responses=error_responses(NotFound),
)
async def get_window(window_id: uuid.UUID, owner_id: CurrentUserId, session: SessionDep):
    return await service.owned(session, owner_id, window_id)


@router.patch(
    "/maintenance-windows/{window_id}",
    response_model=schemas.Window,
    responses=error_responses(NotFound, Unprocessable, Conflict),
)
async def update_window(
    window_id: uuid.UUID, body: schemas.WindowUpdate, owner_id: CurrentUserId, session: SessionDep
):
    return await service.update(session, owner_id, window_id, body)


@router.delete(
    "/maintenance-windows/{window_id}",
    status_code=204,
    responses=error_responses(NotFound, Conflict),
)
async def delete_window(
    window_id: uuid.UUID, owner_id: CurrentUserId, session: SessionDep
) -> Response:
    await service.delete(session, owner_id, window_id)
    return Response(status_code=204)
