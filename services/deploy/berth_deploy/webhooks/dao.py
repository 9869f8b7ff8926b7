"""Queries on webhook deliveries: take a delivery id once, read an app's recent ones."""

import uuid

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from berth_common.dao import BaseDAO
from berth_deploy.autodeploy.events import Outcome
from berth_deploy.webhooks.models import WebhookDelivery

PENDING = "pending"


class WebhookDeliveryDAO(BaseDAO[WebhookDelivery]):
    model = WebhookDelivery

    async def take(
        self, app_id: uuid.UUID, forge: str, delivery_id: str, event: str
    ) -> uuid.UUID | None:
        """The new delivery's id, or None when this app already took that delivery id (a
        concurrent taker's insert waits for its transaction: it then finds it taken)."""
        stmt = (
            insert(WebhookDelivery)
            .values(
                app_id=app_id,
                forge=forge,
                delivery_id=delivery_id,
                event=event[:40],
                outcome=PENDING,
            )
            .on_conflict_do_nothing(index_elements=["app_id", "forge", "delivery_id"])
            .returning(WebhookDelivery.id)
        )
        return (await self.session.execute(stmt)).scalar()

    async def taken(
        self, app_id: uuid.UUID, forge: str, delivery_id: str
    ) -> WebhookDelivery | None:
        return await self.get_by(app_id=app_id, forge=forge, delivery_id=delivery_id)

    async def deployed_before(self, app_id: uuid.UUID, branch: str, commit_sha: str) -> bool:
        """Whether an earlier delivery deployed `commit_sha` of `branch` on the app."""
        stmt = select(WebhookDelivery.id).where(
            WebhookDelivery.app_id == app_id,
            WebhookDelivery.branch == branch,
            WebhookDelivery.commit_sha == commit_sha,
            WebhookDelivery.outcome == Outcome.DEPLOYED,
        )
        return (await self.session.execute(stmt.limit(1))).first() is not None

    async def settle(self, delivery_pk: uuid.UUID, **values: object) -> None:
        await self.session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == delivery_pk).values(**values)
        )

    async def recent(self, app_id: uuid.UUID, limit: int = 20) -> list[WebhookDelivery]:
        stmt = (
            select(WebhookDelivery)
            .where(WebhookDelivery.app_id == app_id)
            .order_by(WebhookDelivery.received_at.desc(), WebhookDelivery.id)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars().all())
