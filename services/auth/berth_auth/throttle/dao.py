"""The per-(account, address) attempt counter: one row per pair, changed by single statements."""

from datetime import datetime, timedelta

from sqlalchemy import case, delete, func
from sqlalchemy.dialects.postgresql import insert

from berth_auth.models import LoginAttemptWindow
from berth_common.dao import BaseDAO


class LoginAttemptWindowDAO(BaseDAO[LoginAttemptWindow]):
    model = LoginAttemptWindow

    async def reserve(self, email: str, ip: str, window: timedelta) -> tuple[int, datetime]:
        """Count one attempt and return (attempts in the window so far, window start).

        One INSERT ... ON CONFLICT DO UPDATE: concurrent attempts on the same pair serialise on
        the row and each sees the count the one before it left. A window older than `window`
        starts again at 1.
        """
        table = LoginAttemptWindow.__table__
        lapsed = table.c.window_started_at <= func.now() - window
        stmt = insert(table).values(email=email, ip=ip, window_started_at=func.now(), attempts=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.email, table.c.ip],
            set_={
                "attempts": case((lapsed, 1), else_=table.c.attempts + 1),
                "window_started_at": case((lapsed, func.now()), else_=table.c.window_started_at),
            },
        ).returning(table.c.attempts, table.c.window_started_at)
        attempts, started = (await self.session.execute(stmt)).one()
        return attempts, started

    async def release(self, email: str, ip: str) -> None:
        """The password was right: this pair starts from zero again."""
        await self.session.execute(
            delete(LoginAttemptWindow).where(
                LoginAttemptWindow.email == email, LoginAttemptWindow.ip == ip
            )
        )

    async def purge(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(LoginAttemptWindow).where(LoginAttemptWindow.window_started_at < before)
        )
        return result.rowcount or 0
