"""On-call queue pages' API: every queue, one queue's history, its thresholds.

For holders of the `oncall` or `admin` role only (the gateway's `/ops/**` rule guards the
pages; these routes check the role again themselves)."""

from typing import Annotated

from fastapi import Path, Query

from berth_common.db import SessionDep
from berth_common.errors import NotFound, Unprocessable, error_responses
from berth_common.routing import role_router
from berth_common.security import CurrentUserId
from berth_monitoring.deps import SettingsDep
from berth_monitoring.queues import pages, schemas, service

API = "/api/monitoring/v1"
QueueName = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,200}$")]

router = role_router("oncall", "admin", prefix=f"{API}/ops/queues", tags=["ops: queues"])


@router.get("", response_model=schemas.QueueList)
async def list_queues(session: SessionDep, settings: SettingsDep) -> schemas.QueueList:
    return await pages.queue_list(session, settings)


@router.get("/{queue}", response_model=schemas.QueueDetail, responses=error_responses(NotFound))
async def queue_detail(
    queue: QueueName,
    session: SessionDep,
    settings: SettingsDep,
    viewer_id: CurrentUserId,
    window: Annotated[schemas.Window, Query()] = "1h",
) -> schemas.QueueDetail:
    return await pages.queue_detail(session, settings, queue, window, viewer_id)


@router.put(
    "/{queue}/threshold",
    response_model=schemas.QueueThreshold,
    responses=error_responses(NotFound, Unprocessable),
)
async def set_threshold(
    queue: QueueName,
    body: schemas.QueueThresholdUpdate,
    session: SessionDep,
    viewer_id: CurrentUserId,
) -> schemas.QueueThreshold:
    return await service.set_threshold(session, queue, body, viewer_id)
