"""Queries that belong to no one domain of billing: the Idempotency-Key rows."""

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from berth_billing.models import IdempotencyKey
from berth_common.dao import BaseDAO


class IdempotencyKeyDAO(BaseDAO[IdempotencyKey]):
    model = IdempotencyKey

    async def claim(self, principal: str, key: str, fingerprint: str) -> bool:
        """True when this transaction now holds the key (a concurrent holder makes it wait)."""
        stmt = (
            pg_insert(IdempotencyKey)
            .values(principal=principal, key=key, fingerprint=fingerprint)
            .on_conflict_do_nothing()
            .returning(IdempotencyKey.key)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def store_answer(self, principal: str, key: str, status_code: int, body: Any) -> None:
        await self.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.principal == principal, IdempotencyKey.key == key)
            .values(status_code=status_code, response=body)
        )

    async def purge_older_than(self, age: timedelta) -> int:
        result = await self.session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < func.now() - age)
        )
        return result.rowcount
