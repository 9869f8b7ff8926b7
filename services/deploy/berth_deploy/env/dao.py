import uuid

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert

from berth_common.dao import BaseDAO
from berth_deploy.models import EnvVar


class EnvVarDAO(BaseDAO[EnvVar]):
    model = EnvVar

    async def of_app(self, app_id: uuid.UUID) -> list[EnvVar]:
        stmt = select(EnvVar).where(EnvVar.app_id == app_id).order_by(EnvVar.name)
        return list((await self.session.execute(stmt)).scalars().all())

    async def count(self, app_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(EnvVar.app_id == app_id)
        return (await self.session.execute(stmt)).scalar_one()

    async def upsert(self, app_id: uuid.UUID, name: str, value: bytes, is_secret: bool) -> None:
        stmt = insert(EnvVar).values(
            app_id=app_id, name=name, value_encrypted=value, is_secret=is_secret
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[EnvVar.app_id, EnvVar.name],
            set_={"value_encrypted": value, "is_secret": is_secret, "updated_at": func.now()},
        )
        await self.session.execute(stmt)

    async def remove(self, app_id: uuid.UUID, name: str) -> bool:
        stmt = delete(EnvVar).where(EnvVar.app_id == app_id, EnvVar.name == name)
        result = await self.session.execute(stmt.returning(EnvVar.name))
        return result.first() is not None
