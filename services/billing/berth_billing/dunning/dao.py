"""Dunning's set-based statements: watches, the grace period, suspensions, owed notices.

Each statement runs over a `scope` (a WHERE clause on Account): one wallet after a credit or
a charge, or every wallet on the periodic check.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Row, any_, func, literal, select, true, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert

from berth_billing.enums import AccountKind, SuspensionReason
from berth_billing.models import Account, BalanceWatch, Notice, Suspension
from berth_common.dao import BaseDAO


def wallets_scope(account_ids: list[uuid.UUID] | None) -> Any:
    """Those wallets (one array parameter: one SQL text whatever their count), or every
    account when None."""
    if account_ids is None:
        return true()
    return Account.id == any_(literal(list(account_ids), ARRAY(PG_UUID(as_uuid=True))))


class WatchDAO(BaseDAO[BalanceWatch]):
    model = BalanceWatch

    async def rearm(self, thresholds: list[int], scope: Any) -> None:
        """Arm every watch whose threshold the wallet's balance is at or above."""
        levels = (
            func.unnest(literal(list(thresholds), ARRAY(BigInteger)))
            .table_valued("threshold")
            .render_derived(name="levels")
        )
        at_or_above = (
            select(Account.id, levels.c.threshold, true(), func.now())
            .select_from(Account)
            .join(levels, true())
            .where(
                Account.kind == AccountKind.WALLET,
                Account.balance >= levels.c.threshold,
                scope,
            )
        )
        await self.session.execute(
            pg_insert(BalanceWatch)
            .from_select(["account_id", "threshold", "armed", "updated_at"], at_or_above)
            .on_conflict_do_update(
                index_elements=["account_id", "threshold"],
                set_={"armed": True, "updated_at": func.now()},
                where=~BalanceWatch.armed,
            )
        )

    async def disarm_crossed(self, scope: Any) -> list[Row[Any]]:
        """Disarm the armed watches the balance fell below: one row per crossing."""
        stmt = (
            update(BalanceWatch)
            .where(
                BalanceWatch.account_id == Account.id,
                BalanceWatch.armed,
                Account.balance < BalanceWatch.threshold,
                scope,
            )
            .values(armed=False, crossings=BalanceWatch.crossings + 1, updated_at=func.now())
            .returning(
                BalanceWatch.account_id,
                BalanceWatch.threshold,
                BalanceWatch.crossings,
                Account.balance,
                Account.currency,
            )
        )
        return list((await self.session.execute(stmt)).all())


class GraceDAO(BaseDAO[Account]):
    """The grace period lives on the wallet: `negative_since`."""

    model = Account

    async def start(self, scope: Any) -> list[Row[Any]]:
        """Wallets newly below zero get `negative_since` = now; returns them."""
        stmt = (
            update(Account)
            .where(
                Account.kind == AccountKind.WALLET,
                Account.balance < 0,
                Account.negative_since.is_(None),
                scope,
            )
            .values(negative_since=func.now())
            .returning(Account.id, Account.balance, Account.currency, Account.negative_since)
        )
        return list((await self.session.execute(stmt)).all())

    async def clear(self, scope: Any) -> None:
        """Wallets back at zero or more have no grace period running."""
        await self.session.execute(
            update(Account)
            .where(
                Account.kind == AccountKind.WALLET,
                Account.balance >= 0,
                Account.negative_since.is_not(None),
                scope,
            )
            .values(negative_since=None)
        )


class SuspensionDAO(BaseDAO[Suspension]):
    model = Suspension

    async def suspend_overdue(self, grace_started_before: datetime, scope: Any) -> list[Row[Any]]:
        """One open billing suspension per wallet still below zero since before the cutoff."""
        overdue = (
            select(Account.id, Account.owner_id, literal(SuspensionReason.BILLING.value))
            .where(
                Account.kind == AccountKind.WALLET,
                Account.balance < 0,
                Account.negative_since <= grace_started_before,
                scope,
            )
            .order_by(Account.id)
        )
        stmt = (
            pg_insert(Suspension)
            .from_select(["account_id", "owner_id", "reason"], overdue)
            .on_conflict_do_nothing(
                index_elements=["account_id"], index_where=Suspension.lifted_at.is_(None)
            )
            .returning(Suspension.id, Suspension.account_id, Suspension.owner_id)
        )
        return list((await self.session.execute(stmt)).all())

    async def lift_recovered(self, now: datetime, scope: Any) -> list[Row[Any]]:
        """Lift the billing suspensions of wallets at zero or more; returns the lifted."""
        stmt = (
            update(Suspension)
            .where(
                Suspension.lifted_at.is_(None),
                Suspension.reason == SuspensionReason.BILLING,
                Suspension.account_id == Account.id,
                Account.balance >= 0,
                scope,
            )
            .values(lifted_at=now)
            .returning(Suspension.owner_id, Suspension.account_id)
        )
        return list((await self.session.execute(stmt)).all())


class NoticeDAO(BaseDAO[Notice]):
    model = Notice

    async def owe_once(
        self, *, account_id: uuid.UUID, kind: str, key: str, context: dict[str, Any]
    ) -> uuid.UUID | None:
        """The new notice's id; None when the notice with this key is owed already."""
        stmt = (
            pg_insert(Notice)
            .values(account_id=account_id, kind=kind, key=key, context=context)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(Notice.id)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()
