"""Monitors of the signed-in person, the admins' view across owners, and the public heartbeat
push URL (`/heartbeat/{token}`: the secret token is the authentication)."""

import uuid
from typing import Annotated, Literal

from fastapi import Query, Response

from berth_common.db import SessionDep
from berth_common.errors import Conflict, NotFound, Unprocessable, error_responses
from berth_common.pagination import PageDep
from berth_common.routing import public_router, role_router, user_router
from berth_common.security import CurrentUserId
from berth_monitoring.deps import SettingsDep, TargetPolicyDep
from berth_monitoring.enums import MonitorKind, MonitorState
from berth_monitoring.monitors import schemas, service
from berth_monitoring.monitors.dao import MonitorDAO

API = "/api/monitoring/v1"

router = user_router(prefix=API, tags=["monitors"])
admin_router = role_router("admin", prefix=f"{API}/admin", tags=["admin"])
heartbeat_router = public_router(prefix=API, tags=["heartbeat"])

StateFilter = Literal[
    MonitorState.UNKNOWN,
    MonitorState.UP,
    MonitorState.PENDING,
    MonitorState.DOWN,
    MonitorState.RECOVERING,
    "paused",
]


@router.get("/monitors", response_model=schemas.MonitorPage)
async def list_monitors(
    owner_id: CurrentUserId,
    session: SessionDep,
    params: PageDep,
    state: StateFilter | None = None,
    kind: MonitorKind | None = None,
    q: Annotated[str | None, Query(max_length=120)] = None,
    managed: bool | None = None,
) -> schemas.MonitorPage:
    return await service.page(
        session, owner_id, params, state=state, kind=kind, search=q, managed=managed
    )


@router.post(
    "/monitors",
    status_code=201,
    response_model=schemas.MonitorCreated,
    responses=error_responses(Unprocessable, Conflict),
)
async def create_monitor(
    body: schemas.MonitorCreate,
    owner_id: CurrentUserId,
    session: SessionDep,
    settings: SettingsDep,
    policy: TargetPolicyDep,
) -> schemas.MonitorCreated:
    monitor, token = await service.create(session, settings, policy, owner_id, body)
    out = schemas.MonitorCreated.model_validate(monitor)
    if token is not None:
        out.push_url = service.push_url(settings, token)
    return out


@router.get(
    "/monitors/{monitor_id}", response_model=schemas.Monitor, responses=error_responses(NotFound)
)
async def get_monitor(monitor_id: uuid.UUID, owner_id: CurrentUserId, session: SessionDep):
    return await service.owned(session, owner_id, monitor_id)


@router.patch(
    "/monitors/{monitor_id}",
    response_model=schemas.Monitor,
    responses=error_responses(NotFound, Unprocessable, Conflict),
)
async def update_monitor(
    monitor_id: uuid.UUID,
    body: schemas.MonitorUpdate,
    owner_id: CurrentUserId,
    session: SessionDep,
    settings: SettingsDep,
    policy: TargetPolicyDep,
):
    return await service.update(session, settings, policy, owner_id, monitor_id, body)


@router.delete(
    "/monitors/{monitor_id}", status_code=204, responses=error_responses(NotFound, Conflict)
)
async def delete_monitor(
    monitor_id: uuid.UUID, owner_id: CurrentUserId, session: SessionDep
) -> Response:
    await service.delete(session, owner_id, monitor_id)
    return Response(status_code=204)


@router.post(
    "/monitors/{monitor_id}/pause",
    response_model=schemas.Monitor,
    responses=error_responses(NotFound, Conflict),
)
async def pause_monitor(monitor_id: uuid.UUID, owner_id: CurrentUserId, session: SessionDep):
    return await service.pause(session, owner_id, monitor_id)


@router.post(
    "/monitors/{monitor_id}/resume",
    response_model=schemas.Monitor,
    responses=error_responses(NotFound),
)
async def resume_monitor(monitor_id: uuid.UUID, owner_id: CurrentUserId, session: SessionDep):
    return await service.resume(session, owner_id, monitor_id)


@router.get(
    "/monitors/{monitor_id}/channels",
    response_model=schemas.ChannelLinks,
    responses=error_responses(NotFound),
)
async def monitor_channels(monitor_id: uuid.UUID, owner_id: CurrentUserId, session: SessionDep):
    return schemas.ChannelLinks(channel_ids=await service.channels(session, owner_id, monitor_id))


@router.put(
    "/monitors/{monitor_id}/channels",
    response_model=schemas.ChannelLinks,
    responses=error_responses(NotFound, Unprocessable),
)
async def link_channels(
    monitor_id: uuid.UUID, body: schemas.ChannelLinks, owner_id: CurrentUserId, session: SessionDep
):
    linked = await service.link_channels(session, owner_id, monitor_id, body.channel_ids)
    return schemas.ChannelLinks(channel_ids=linked)


@router.post(
    "/monitors/{monitor_id}/heartbeat-token",
    response_model=schemas.PushUrl,
    responses=error_responses(NotFound, Unprocessable),
    description="A new push URL; the old one stops working at once.",
)
async def regenerate_token(
    monitor_id: uuid.UUID, owner_id: CurrentUserId, session: SessionDep, settings: SettingsDep
):
    token = await service.regenerate_token(session, owner_id, monitor_id)
    return schemas.PushUrl(push_url=service.push_url(settings, token))


@router.get(
    "/monitors/{monitor_id}/stats",
    response_model=schemas.MonitorStats,
    responses=error_responses(NotFound, Unprocessable),
    description="Uptime over 24h/7d/30d, the latency series of `range`, recent failures.",
)
async def monitor_stats(
    monitor_id: uuid.UUID,
    owner_id: CurrentUserId,
    session: SessionDep,
    range: Literal["1h", "24h", "7d", "30d"] = "24h",
):
    return await service.stats(session, owner_id, monitor_id, range)


@admin_router.get("/monitors", response_model=schemas.AdminMonitorPage)
async def admin_monitors(
    session: SessionDep,
    params: PageDep,
    owner_id: uuid.UUID | None = None,
    state: StateFilter | None = None,
    kind: MonitorKind | None = None,
    q: Annotated[str | None, Query(max_length=120)] = None,
) -> schemas.AdminMonitorPage:
    items, total = await MonitorDAO(session).page(
        params, owner_id=owner_id, state=state, kind=kind, search=q
    )
    return schemas.AdminMonitorPage.build(
        [schemas.AdminMonitor.model_validate(m) for m in items], total, params
    )


async def _beat(token: str, session: SessionDep) -> schemas.HeartbeatAck:
    return schemas.HeartbeatAck(received_at=await service.beat(session, token))


heartbeat_router.add_api_route(
    "/heartbeat/{token}",
    _beat,
    methods=["GET", "POST"],
    response_model=schemas.HeartbeatAck,
    responses=error_responses(NotFound),
    description="A job's heartbeat: call it (GET or POST) every interval; no sign-in.",
)
