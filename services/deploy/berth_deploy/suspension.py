"""Billing's word on an owner: suspend their running apps and VPSes; on unsuspend, bring back
only the apps and VPSes billing suspended (an admin's suspension stays)."""

import uuid
from datetime import UTC, datetime
from typing import Any

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import BerthError
from berth_deploy.apps.dao import AppDAO
from berth_deploy.enums import AppStatus, OperationKind, OperationOrigin
from berth_deploy.models import OwnerStanding
from berth_deploy.operations.dao import OperationDAO
from berth_deploy.operations.service import request_operation
from berth_deploy.vps import service as vps
from berth_deploy.vps.dao import VpsDAO, VpsOperationDAO
from berth_deploy.vps.enums import VpsOperationKind, VpsStatus

# apps that run, or are about to: a stopped or failed app has nothing to suspend
SUSPENDABLE = (AppStatus.QUEUED, AppStatus.BUILDING, AppStatus.STARTING, AppStatus.RUNNING)


def _when(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _record(
    session: AsyncSession, owner_id: uuid.UUID, suspended: bool, reason: str | None, at: datetime
) -> bool:
    """Keep billing's latest word; False when this event is older than what we know."""
    standing = await session.get(OwnerStanding, owner_id, with_for_update=True)
    if standing is not None and standing.changed_at >= at:
        return False
    if standing is None:
        session.add(
            OwnerStanding(owner_id=owner_id, suspended=suspended, reason=reason, changed_at=at)
        )
    else:
        standing.suspended, standing.reason, standing.changed_at = suspended, reason, at
    await session.flush()
    return True


async def _request(
    session: AsyncSession, app_id: uuid.UUID, kind: OperationKind, reason: str | None
):
    """One app's operation; an app that cannot take it (it changed meanwhile) is skipped,
    never a reason to drop the whole event."""
    try:
        async with session.begin_nested():
            await request_operation(
                session,
                app_id,
                kind,
                requested_by=None,
                origin=OperationOrigin.BILLING,
                reason=reason,
            )
    except BerthError as exc:
        logger.bind(app_id=str(app_id)).warning("billing {} skipped: {}", kind, exc.message)


async def _request_vps(
    session: AsyncSession, vps_id: uuid.UUID, kind: VpsOperationKind, reason: str | None
):
    """One VPS's operation; one that cannot take it (it changed meanwhile) is skipped."""
    try:
        async with session.begin_nested():
            await vps.request_operation(
                session,
                vps_id,
                kind,
                requested_by=None,
                origin=OperationOrigin.BILLING,
                reason=reason,
            )
    except BerthError as exc:
        logger.bind(vps_id=str(vps_id)).warning("billing {} skipped: {}", kind, exc.message)


async def account_suspended(session: AsyncSession, payload: dict[str, Any]) -> None:
    owner_id = uuid.UUID(str(payload["owner_id"]))
    reason = str(payload.get("reason") or "billing")[:400]
    if not await _record(session, owner_id, True, reason, _when(payload.get("suspended_at"))):
        logger.info("stale billing.account.suspended for {} ignored", owner_id)
        return
    for app in await AppDAO(session).of_owner(owner_id, SUSPENDABLE):
        await _request(session, app.id, OperationKind.SUSPEND, reason)
    for machine in await VpsDAO(session).of_owner(owner_id, vps.SUSPENDABLE):
        await _request_vps(session, machine.id, VpsOperationKind.SUSPEND, reason)


async def account_unsuspended(session: AsyncSession, payload: dict[str, Any]) -> None:
    owner_id = uuid.UUID(str(payload["owner_id"]))
    if not await _record(session, owner_id, False, None, _when(payload.get("unsuspended_at"))):
        logger.info("stale billing.account.unsuspended for {} ignored", owner_id)
        return
    ops = OperationDAO(session)
    for app in await AppDAO(session).of_owner(owner_id, (AppStatus.SUSPENDED, *SUSPENDABLE)):
        pending = [o for o in await ops.active(app.id) if o.kind == OperationKind.SUSPEND]
        billing_pending = any(o.origin == OperationOrigin.BILLING for o in pending)
        if (
            app.status == AppStatus.SUSPENDED and app.suspended_by == OperationOrigin.BILLING
        ) or billing_pending:
            await _request(session, app.id, OperationKind.RESUME, None)
    vps_ops = VpsOperationDAO(session)
    for machine in await VpsDAO(session).of_owner(
        owner_id, (VpsStatus.SUSPENDED, *vps.SUSPENDABLE)
    ):
        pending = [
            o for o in await vps_ops.active(machine.id) if o.kind == VpsOperationKind.SUSPEND
        ]
        if (
            machine.status == VpsStatus.SUSPENDED
            and machine.suspended_by == OperationOrigin.BILLING
        ) or any(o.origin == OperationOrigin.BILLING for o in pending):
            await _request_vps(session, machine.id, VpsOperationKind.RESUME, None)
