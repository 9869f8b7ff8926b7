"""Queries of accounts' tier changes."""

import uuid
from datetime import datetime

from sqlalchemy import func, select

from berth_billing.tiers.models import AccountTierChange
from berth_common.dao import BaseDAO


class TierChangeDAO(BaseDAO[AccountTierChange]):
    model = AccountTierChange
    default_sort = (AccountTierChange.changed_at.desc(), AccountTierChange.id)

    async def last_change_at(self, account_id: uuid.UUID) -> datetime | None:
        stmt = select(func.max(AccountTierChange.changed_at)).where(
            AccountTierChange.account_id == account_id
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def clock(self) -> datetime:
        """The database's time now (not the transaction's start): changes made one after the
        other under the account's lock get times in that order."""
        return (await self.session.execute(select(func.clock_timestamp()))).scalar_one()
