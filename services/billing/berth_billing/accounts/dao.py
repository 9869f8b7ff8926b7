"""Queries of accounts and the ledger as their holders and admins read it."""

import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Row,
    SmallInteger,
    String,
    any_,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from berth_billing.enums import AccountFilter, AccountKind
from berth_billing.models import Account, LedgerEntry, Suspension
from berth_common.dao import BaseDAO


class AccountDAO(BaseDAO[Account]):
    model = Account
    not_found_message = "Account not found"
    sortable = {"created_at": Account.created_at, "balance": Account.balance}
    default_sort = (Account.created_at.desc(), Account.id)

    async def ensure_wallet(
        self, owner_id: uuid.UUID, currency: str, email: str | None = None
    ) -> Account:
        stmt = pg_insert(Account).values(
            kind=AccountKind.WALLET, owner_id=owner_id, currency=currency, email=email
        )
        if email:
            stmt = stmt.on_conflict_do_update(
                index_elements=["owner_id"],
                index_where=text("owner_id IS NOT NULL"),
                set_={"email": email},
            )
        else:
            stmt = stmt.on_conflict_do_nothing(
                index_elements=["owner_id"], index_where=text("owner_id IS NOT NULL")
            )
        await self.session.execute(stmt)
        return await self.wallet_of(owner_id)  # type: ignore[return-value]

    async def wallet_of(self, owner_id: uuid.UUID, *, for_update: bool = False) -> Account | None:
        stmt = select(Account).where(Account.owner_id == owner_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalars().first()

    async def system_account(self, kind: str, currency: str, shard: int = 0) -> uuid.UUID:
        """The id of one shard of a system account, opened on first use."""
        where = (
            Account.kind == kind,
            Account.currency == currency,
            Account.shard == shard,
            Account.owner_id.is_(None),
        )
        # read first: an insert would wait on whichever posting is updating the row's balance
        found = (await self.session.execute(select(Account.id).where(*where))).scalar_one_or_none()
        if found is not None:
            return found
        await self.session.execute(
            pg_insert(Account)
            .values(kind=kind, owner_id=None, currency=currency, shard=shard)
            .on_conflict_do_nothing(
                index_elements=["kind", "currency", "shard"], index_where=text("owner_id IS NULL")
            )
        )
        return (await self.session.execute(select(Account.id).where(*where))).scalar_one()

    async def system_accounts(self, kind: str, currency: str, shards: set[int]) -> dict[int, Any]:
        """shard -> id of these shards of a system account, in one read (those missing are
        opened)."""
        stmt = select(Account.shard, Account.id).where(
            Account.kind == kind,
            Account.currency == currency,
            Account.shard == any_(literal(sorted(shards), ARRAY(SmallInteger))),
            Account.owner_id.is_(None),
        )
        found: dict[int, Any] = dict((await self.session.execute(stmt)).all())
        for shard in shards - found.keys():
            found[shard] = await self.system_account(kind, currency, shard)
        return found

    async def system_balances(self) -> list[Row[Any]]:
        """Per (kind, currency) of the system accounts: the sum of its shards' balances, the
        sum of their entries (what the balances must equal) and how many shards it has."""
        entries = (
            select(func.sum(LedgerEntry.amount).label("total"))
            .where(LedgerEntry.account_id == Account.id)
            .lateral()
        )
        stmt = (
            select(
                Account.kind,
                Account.currency,
                cast(func.sum(Account.balance), BigInteger).label("balance"),
                cast(func.coalesce(func.sum(entries.c.total), 0), BigInteger).label("entries"),
                func.count().label("shards"),
            )
            .outerjoin(entries, true())
            .where(Account.owner_id.is_(None))
            .group_by(Account.kind, Account.currency)
            .order_by(Account.kind, Account.currency)
        )
        return list((await self.session.execute(stmt)).all())

    async def balance_of(self, account_id: uuid.UUID) -> Row[tuple[int, str]]:
        """(balance, currency) as the database has it now, not as a loaded Account shows it."""
        stmt = select(Account.balance, Account.currency).where(Account.id == account_id)
        return (await self.session.execute(stmt)).one()

    async def balance_from_entries(self, account_id: uuid.UUID) -> int:
        """The truth the cached balance must equal."""
        return (
            await self.session.execute(
                select(cast(func.coalesce(func.sum(LedgerEntry.amount), 0), BigInteger)).where(
                    LedgerEntry.account_id == account_id
                )
            )
        ).scalar_one()

    async def open_suspension(self, account_id: uuid.UUID) -> Suspension | None:
        stmt = select(Suspension).where(
            Suspension.account_id == account_id, Suspension.lifted_at.is_(None)
        )
        return (await self.session.execute(stmt)).scalars().first()

    def search_filters(self, q: str | None, status: AccountFilter | None) -> list[Any]:
        where: list[Any] = [Account.kind == AccountKind.WALLET]
        if q:
            like = f"%{q.lower()}%"
            where.append(
                or_(func.lower(Account.email).like(like), cast(Account.owner_id, String).like(like))
            )
        if status == AccountFilter.NEGATIVE:
            where.append(Account.balance < 0)
        elif status == AccountFilter.SUSPENDED:
            where.append(
                select(Suspension.id)
                .where(Suspension.account_id == Account.id, Suspension.lifted_at.is_(None))
                .exists()
            )
        return where
