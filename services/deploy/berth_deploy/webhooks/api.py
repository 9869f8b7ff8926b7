"""Forge webhooks: the owner's signing secret (made or rotated, shown once; removed), the
recent deliveries, and the public endpoint forges post to (the signature is its key)."""

import uuid

from fastapi import Request, status

from berth_common.db import SessionDep
from berth_common.errors import Conflict, NotFound, error_responses
from berth_common.routing import public_router, user_router
from berth_common.security import CurrentUserId
from berth_deploy.apps.service import get_app
from berth_deploy.deps import CipherDep, SettingsDep
from berth_deploy.webhooks import service
from berth_deploy.webhooks.schemas import (
    WebhookAck,
    WebhookDelivery,
    WebhookSecret,
    WebhookStatus,
)
from berth_deploy.webhooks.service import (
    BadDelivery,
    BadSignature,
    HookNotFound,
    PayloadTooLarge,
    hook_urls,
)

router = user_router(prefix="/api/deploy/v1/apps/{app_id}", tags=["webhooks"], errors=(NotFound,))


@router.get("/webhook", response_model=WebhookStatus)
async def webhook_status(
    app_id: uuid.UUID, owner: CurrentUserId, session: SessionDep, settings: SettingsDep
) -> WebhookStatus:
    app = await get_app(session, app_id, owner)
    return WebhookStatus(
        secret_set_at=app.webhook_secret_set_at,
        urls=hook_urls(settings, app.id),
        deliveries=[
            WebhookDelivery.model_validate(d)
            for d in await service.recent_deliveries(session, app.id)
        ],
    )


@router.post(
    "/webhook-secret",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookSecret,
    responses=error_responses(Conflict),
    description="Make (or rotate: the old one stops working) the app's webhook signing secret. "
    "It is shown this once.",
)
async def make_webhook_secret(
    app_id: uuid.UUID,
    owner: CurrentUserId,
    session: SessionDep,
    settings: SettingsDep,
    cipher: CipherDep,
) -> WebhookSecret:
    app = await get_app(session, app_id, owner)
    made = await service.make_secret(session, cipher, app)
    return WebhookSecret(secret=made.secret, set_at=made.set_at, urls=hook_urls(settings, app.id))


@router.delete(
    "/webhook-secret",
    status_code=status.HTTP_204_NO_CONTENT,
    description="Remove the secret: the app's webhooks answer 404 until a new one is made.",
)
async def remove_webhook_secret(
    app_id: uuid.UUID, owner: CurrentUserId, session: SessionDep
) -> None:
    app = await get_app(session, app_id, owner)
    await service.remove_secret(session, app)


hooks_router = public_router(prefix=service.HOOKS_PATH, tags=["webhooks"])


async def _body(request: Request, limit: int) -> bytes:
    """The raw body, or 413 past `limit` bytes (without reading more than that)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise PayloadTooLarge(f"A webhook body is at most {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"A webhook body is at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@hooks_router.post(
    "/{app_id}/{forge}",
    response_model=WebhookAck,
    responses=error_responses(HookNotFound, BadSignature, BadDelivery, PayloadTooLarge),
    description="Where a forge posts (forge: github, gitlab, gitea for Gitea and Forgejo, "
    "bitbucket). Signed with the app's webhook secret as that forge does.",
)
async def take_delivery(
    app_id: str,
    forge: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    cipher: CipherDep,
) -> WebhookAck:
    body = await _body(request, settings.webhook_max_bytes)
    headers = {k.lower(): v for k, v in request.headers.items()}
    ack = await service.receive(session, settings, cipher, app_id, forge, headers, body)
    return WebhookAck(outcome=ack.outcome, operation_id=ack.operation_id, duplicate=ack.duplicate)
