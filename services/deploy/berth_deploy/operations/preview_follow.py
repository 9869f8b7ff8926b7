"""What an app's operations do to its preview apps: they go and are held with it."""

import uuid

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import BerthError
from berth_deploy.enums import AppStatus, OperationKind, OperationOrigin
from berth_deploy.models import App
from berth_deploy.operations.lifecycle import REQUESTABLE, AppSuspended
from berth_deploy.previews.dao import PreviewDAO

# a preview suspended with its app (the app's unsuspension brings back only these)
PARENT_SUSPENDED = "its app is suspended"


async def previews_follow(
    session: AsyncSession,
    app: App,
    kind: OperationKind,
    requested_by: uuid.UUID | None,
    origin: OperationOrigin,
) -> None:
    """An app's previews go and are held with it (they must not keep running and billing, nor
    serve what an admin took down): its deletion deletes them, an admin's suspension suspends
    the running ones and the unsuspension brings back those it suspended. Billing's reach
    every app of the owner, previews included, by themselves."""
    if kind == OperationKind.DELETE:
        targets, reason = await PreviewDAO(session).live(app.id), "its app is being deleted"
    elif origin == OperationOrigin.ADMIN and kind == OperationKind.SUSPEND:
        live = await PreviewDAO(session).live(app.id)
        targets = [p for p in live if p.status in REQUESTABLE[OperationKind.SUSPEND]]
        reason = PARENT_SUSPENDED
    elif origin == OperationOrigin.ADMIN and kind == OperationKind.RESUME:
        live = await PreviewDAO(session).live(app.id)
        targets = [
            p
            for p in live
            if p.status == AppStatus.SUSPENDED and p.status_reason == PARENT_SUSPENDED
        ]
        reason = None
    else:
        return
    from berth_deploy.operations import service  # it asks for these operations too

    for preview in targets:
        try:
            async with session.begin_nested():
                await service.request_operation(
                    session,
                    preview.id,
                    kind,
                    requested_by=requested_by,
                    origin=origin,
                    reason=reason,
                )
        except BerthError as exc:  # changed meanwhile; a parent gone takes it (expiry)
            logger.bind(app_id=str(preview.id)).warning(
                "preview {} with its app skipped: {}", kind, exc.message
            )


async def check_parent_not_suspended(
    session: AsyncSession, app: App, origin: OperationOrigin
) -> None:
    """A preview of a suspended app runs nothing until its app is back (an admin's own
    unsuspension of the app brings it back)."""
    if app.parent_app_id is None or origin == OperationOrigin.ADMIN:
        return
    parent = await session.get(App, app.parent_app_id)
    if parent is not None and parent.status == AppStatus.SUSPENDED:
        raise AppSuspended("The preview's app is suspended", details={"app_id": str(parent.id)})
