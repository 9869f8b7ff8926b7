"""Rows of what deploy and billing said about apps, owners and operations; each read for
update, so two events of one app applied at once wait for each other."""

import uuid
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from berth_monitoring.platform.models import PlatformApp, PlatformOperation, PlatformOwner


class PlatformDAO:
    def __init__(self, session):
        self.session = session

    async def app_for_update(self, app_id: uuid.UUID, owner_id: uuid.UUID) -> PlatformApp:
        await self.session.execute(
            pg_insert(PlatformApp)
            .values(app_id=app_id, owner_id=owner_id)
            .on_conflict_do_nothing(index_elements=[PlatformApp.app_id])
        )
        stmt = select(PlatformApp).where(PlatformApp.app_id == app_id).with_for_update()
        app = (await self.session.execute(stmt)).scalar_one()
        await self.session.refresh(app)
        return app

    async def apps_of_owner(self, owner_id: uuid.UUID) -> list[PlatformApp]:
        stmt = (
            select(PlatformApp)
            .where(PlatformApp.owner_id == owner_id, PlatformApp.deleted.is_(False))
            .order_by(PlatformApp.app_id)
            .with_for_update()
        )
        return list((await self.session.execute(stmt)).scalars())

    async def owner_for_update(self, owner_id: uuid.UUID) -> PlatformOwner | None:
        stmt = select(PlatformOwner).where(PlatformOwner.owner_id == owner_id).with_for_update()
        return (await self.session.execute(stmt)).scalars().first()

    async def owner(self, owner_id: uuid.UUID) -> PlatformOwner | None:
        return await self.session.get(PlatformOwner, owner_id)

    async def add_owner(self, owner_id: uuid.UUID, suspended: bool, at: datetime) -> None:
        await self.session.execute(
            pg_insert(PlatformOwner)
            .values(owner_id=owner_id, suspended=suspended, changed_at=at)
            .on_conflict_do_nothing(index_elements=[PlatformOwner.owner_id])
        )

    async def operation_for_update(
        self, operation_id: uuid.UUID, app_id: uuid.UUID
    ) -> PlatformOperation:
        await self.session.execute(
            pg_insert(PlatformOperation)
            .values(operation_id=operation_id, app_id=app_id)
            .on_conflict_do_nothing(index_elements=[PlatformOperation.operation_id])
        )
        stmt = (
            select(PlatformOperation)
            .where(PlatformOperation.operation_id == operation_id)
            .with_for_update()
        )
        op = (await self.session.execute(stmt)).scalar_one()
        await self.session.refresh(op)
        return op

    async def operations_of_app(self, app_id: uuid.UUID) -> list[PlatformOperation]:
        stmt = select(PlatformOperation).where(PlatformOperation.app_id == app_id)
        return list((await self.session.execute(stmt)).scalars())

    async def forget_operations(self, app_id: uuid.UUID, finished_before: datetime) -> None:
        await self.session.execute(
            delete(PlatformOperation).where(
                PlatformOperation.app_id == app_id,
                PlatformOperation.finished_at < finished_before,
            )
        )
        await self.session.flush()
