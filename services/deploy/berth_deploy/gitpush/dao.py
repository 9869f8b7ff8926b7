import uuid
from datetime import datetime

from sqlalchemy import func, select, update

from berth_common.dao import BaseDAO
from berth_deploy.enums import AppStatus
from berth_deploy.gitpush.models import DeployToken
from berth_deploy.models import App


class DeployTokenDAO(BaseDAO[DeployToken]):
    model = DeployToken

    async def live_of_app(self, app_id: uuid.UUID) -> list[DeployToken]:
        stmt = (
            select(DeployToken)
            .where(DeployToken.app_id == app_id, DeployToken.revoked_at.is_(None))
            .order_by(DeployToken.created_at, DeployToken.id)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def count_live(self, app_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(
            DeployToken.app_id == app_id, DeployToken.revoked_at.is_(None)
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def revoke(self, app_id: uuid.UUID, token_id: uuid.UUID) -> bool:
        stmt = (
            update(DeployToken)
            .where(
                DeployToken.id == token_id,
                DeployToken.app_id == app_id,
                DeployToken.revoked_at.is_(None),
            )
            .values(revoked_at=func.now())
            .returning(DeployToken.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def app_for(self, slug: str, token_hash: str) -> App | None:
        """The live app named `slug` if `token_hash` is one of its live tokens."""
        stmt = (
            select(App)
            .join(DeployToken, DeployToken.app_id == App.id)
            .where(
                DeployToken.token_hash == token_hash,
                DeployToken.revoked_at.is_(None),
                App.slug == slug,
                App.status.not_in((AppStatus.DELETING, AppStatus.DELETED)),
            )
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def touch(self, token_hash: str, now: datetime) -> None:
        stmt = (
            update(DeployToken).where(DeployToken.token_hash == token_hash).values(last_used_at=now)
        )
        await self.session.execute(stmt)
