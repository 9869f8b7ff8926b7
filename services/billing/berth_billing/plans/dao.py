"""Queries of plans and their price history."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from berth_billing.models import Plan, PlanPrice
from berth_common.dao import BaseDAO


class PlanDAO(BaseDAO[Plan]):
    model = Plan
    not_found_message = "Plan not found"
    default_sort = (Plan.key,)

    async def ensure(self, key: str) -> None:
        """The plan exists (a template plan: its key as its name) or is made now."""
        await self.session.execute(
            pg_insert(Plan).values(key=key, name=key, description="").on_conflict_do_nothing()
        )

    async def all(self) -> list[Plan]:
        return list((await self.session.execute(select(Plan).order_by(Plan.key))).scalars())


class PriceDAO(BaseDAO[PlanPrice]):
    model = PlanPrice

    async def effective(self, plan_key: str, at: datetime) -> PlanPrice | None:
        stmt = (
            select(PlanPrice)
            .where(PlanPrice.plan_key == plan_key, PlanPrice.valid_from <= at)
            .order_by(PlanPrice.valid_from.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def scheduled_after(self, plan_key: str, at: datetime) -> PlanPrice | None:
        stmt = (
            select(PlanPrice)
            .where(PlanPrice.plan_key == plan_key, PlanPrice.valid_from > at)
            .order_by(PlanPrice.valid_from)
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def history(self, plan_key: str) -> list[PlanPrice]:
        stmt = (
            select(PlanPrice)
            .where(PlanPrice.plan_key == plan_key)
            .order_by(PlanPrice.valid_from.desc())
        )
        return list((await self.session.execute(stmt)).scalars())

    async def upsert(self, **values) -> PlanPrice:
        """A price for a future hour may be replaced until that hour comes."""
        stmt = (
            pg_insert(PlanPrice)
            .values(**values)
            .on_conflict_do_update(
                index_elements=["plan_key", "valid_from"],
                set_={
                    "amount_per_hour": values["amount_per_hour"],
                    "currency": values["currency"],
                    "created_by": values["created_by"],
                },
            )
            .returning(PlanPrice)
        )
        return (await self.session.execute(stmt)).scalars().one()

    async def has_any(self, plan_key: str) -> bool:
        stmt = select(PlanPrice.id).where(PlanPrice.plan_key == plan_key).limit(1)
        return (await self.session.execute(stmt)).first() is not None
