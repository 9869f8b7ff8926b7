"""A user's alert channels: email, signed webhook, Telegram; each with a test button.

Secrets are write-only: a webhook's signing secret is shown once (at creation or rotation), a
bot token never; answers show "…" and the last four characters.
"""

import uuid

from fastapi import Response, status

from berth_common.db import SessionDep
from berth_common.errors import NotFound, RateLimited, Unprocessable, error_responses
from berth_common.pagination import PageDep
from berth_common.routing import user_router
from berth_common.security import CurrentUserId
from berth_monitoring.alerts import service
from berth_monitoring.alerts.schemas import (
    Channel,
    ChannelCreate,
    ChannelPage,
    ChannelUpdate,
    ChannelWithSecret,
    NotificationOut,
    TestResult,
)
from berth_monitoring.deps import SendersDep

router = user_router(prefix="/api/monitoring/v1/channels", tags=["alert channels"])


@router.get("", response_model=ChannelPage)
async def list_channels(
    owner: CurrentUserId, session: SessionDep, senders: SendersDep, params: PageDep
) -> ChannelPage:
    items, total = await service.list_channels(session, senders.cipher, owner, params)
    return ChannelPage.build(items, total, params)


@router.post(
    "",
    response_model=ChannelWithSecret,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(Unprocessable),
)
async def create_channel(
    body: ChannelCreate, owner: CurrentUserId, session: SessionDep, senders: SendersDep
) -> ChannelWithSecret:
    return await service.create_channel(session, senders.cipher, senders.policy, owner, body)


@router.get("/{channel_id}", response_model=Channel, responses=error_responses(NotFound))
async def get_channel(
    channel_id: uuid.UUID, owner: CurrentUserId, session: SessionDep, senders: SendersDep
) -> Channel:
    channel = await service.get_channel(session, owner, channel_id)
    return service.shown(channel, senders.cipher)


@router.patch(
    "/{channel_id}",
    response_model=ChannelWithSecret,
    responses=error_responses(NotFound, Unprocessable),
)
async def update_channel(
    channel_id: uuid.UUID,
    body: ChannelUpdate,
    owner: CurrentUserId,
    session: SessionDep,
    senders: SendersDep,
) -> ChannelWithSecret:
    channel = await service.get_channel(session, owner, channel_id)
    return await service.update_channel(session, senders.cipher, senders.policy, channel, body)


@router.delete(
    "/{channel_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(NotFound)
)
async def delete_channel(
    channel_id: uuid.UUID, owner: CurrentUserId, session: SessionDep
) -> Response:
    channel = await service.get_channel(session, owner, channel_id)
    await service.delete_channel(session, channel)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{channel_id}/test",
    response_model=TestResult,
    responses=error_responses(NotFound, RateLimited),
)
async def test_channel(
    channel_id: uuid.UUID, owner: CurrentUserId, session: SessionDep, senders: SendersDep
) -> TestResult:
    channel = await service.get_channel(session, owner, channel_id)
    return await service.test_channel(session, senders, channel)


@router.get(
    "/{channel_id}/notifications",
    response_model=list[NotificationOut],
    responses=error_responses(NotFound),
)
async def recent_notifications(
    channel_id: uuid.UUID, owner: CurrentUserId, session: SessionDep
) -> list[NotificationOut]:
    channel = await service.get_channel(session, owner, channel_id)
    rows = await service.recent_notifications(session, channel)
    return [NotificationOut.model_validate(row, from_attributes=True) for row in rows]
