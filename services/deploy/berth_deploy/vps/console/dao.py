"""Every query of the VPS console: its tokens, its sessions' audit, and the few VPS columns
it watches (read with a query of its own, so the console depends on no more of the VPS model
than `id`, `owner_id`, `status` and `suspended_by`, and of its operations than whether a
suspend is under way)."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, column, exists, func, select, table, update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.types import String

from berth_common.dao import BaseDAO
from berth_deploy.models import SCHEMA
from berth_deploy.vps.console.models import VpsConsoleSession, VpsConsoleToken

_vps = table(
    "vps",
    column("id", UUID(as_uuid=True)),
    column("owner_id", UUID(as_uuid=True)),
    column("status", String),
    column("suspended_by", String),
    schema=SCHEMA,
)
_operations = table(
    "vps_operations",
    column("vps_id", UUID(as_uuid=True)),
    column("kind", String),
    column("status", String),
    schema=SCHEMA,
)


@dataclass(frozen=True)
class VpsAccess:
    """What the console needs to know of a VPS: whose it is and whether it may be open."""

    id: uuid.UUID
    owner_id: uuid.UUID
    status: str
    suspended_by: str | None
    # a suspend is queued or running: the VPS is being suspended (its machine may still run)
    suspending: bool = False


async def vps_access(session, vps_id: uuid.UUID) -> VpsAccess | None:
    suspending = exists().where(
        _operations.c.vps_id == vps_id,
        _operations.c.kind == "suspend",
        _operations.c.status.in_(("queued", "running")),
    )
    stmt = select(_vps.c.id, _vps.c.owner_id, _vps.c.status, _vps.c.suspended_by, suspending).where(
        _vps.c.id == vps_id
    )
    row = (await session.execute(stmt)).first()
    return VpsAccess(*row) if row is not None else None


class ConsoleTokenDAO(BaseDAO[VpsConsoleToken]):
    model = VpsConsoleToken

    async def redeem(
        self, vps_id: uuid.UUID, user_id: uuid.UUID, token_hash: str, now: datetime
    ) -> VpsConsoleToken | None:
        """Spend the token if it is this VPS's and this person's, unspent and unexpired: one
        statement, so two handshakes racing with the same token cannot both win (and someone
        else holding it cannot spend it)."""
        stmt = (
            update(VpsConsoleToken)
            .where(
                VpsConsoleToken.token_hash == token_hash,
                VpsConsoleToken.vps_id == vps_id,
                VpsConsoleToken.user_id == user_id,
                VpsConsoleToken.used_at.is_(None),
                VpsConsoleToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(VpsConsoleToken)
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def purge_expired(self, before: datetime) -> int:
        stmt = VpsConsoleToken.__table__.delete().where(VpsConsoleToken.expires_at < before)
        return (await self.session.execute(stmt)).rowcount or 0


class ConsoleSessionDAO(BaseDAO[VpsConsoleSession]):
    model = VpsConsoleSession
    default_sort = (VpsConsoleSession.opened_at.desc(), VpsConsoleSession.id)
    sortable = {"opened_at": VpsConsoleSession.opened_at, "closed_at": VpsConsoleSession.closed_at}

    def filtered(
        self, vps_id: uuid.UUID | None, user_id: uuid.UUID | None, open_only: bool
    ) -> Select[tuple[VpsConsoleSession]]:
        stmt = select(VpsConsoleSession)
        if vps_id is not None:
            stmt = stmt.where(VpsConsoleSession.vps_id == vps_id)
        if user_id is not None:
            stmt = stmt.where(VpsConsoleSession.user_id == user_id)
        if open_only:
            stmt = stmt.where(VpsConsoleSession.closed_at.is_(None))
        return stmt

    async def close(
        self,
        session_id: uuid.UUID,
        *,
        code: int,
        reason: str,
        bytes_in: int,
        bytes_out: int,
    ) -> None:
        stmt = (
            update(VpsConsoleSession)
            .where(VpsConsoleSession.id == session_id, VpsConsoleSession.closed_at.is_(None))
            .values(
                closed_at=func.now(),
                close_code=code,
                close_reason=reason,
                bytes_in=bytes_in,
                bytes_out=bytes_out,
            )
        )
        await self.session.execute(stmt)
