"""The ledger's rules hold in the database itself, whatever code writes to it."""

import uuid

import pytest
from fixtures_billing import sql, top_up, wallet
from sqlalchemy.exc import DBAPIError

from berth_billing.accounts.dao import AccountDAO
from berth_billing.ledger.service import Leg, post


async def test_entries_cannot_be_updated_deleted_or_truncated(
    billing_http, billing_db, billing_settings, person
):
    alice = person()
    await top_up(billing_http, billing_settings, alice, 1500)
    account = await wallet(billing_db, alice.id)
    for statement in (
        "UPDATE billing.ledger_entries SET amount = amount * 2 WHERE account_id = :a",
        "DELETE FROM billing.ledger_entries WHERE account_id = :a",
        "UPDATE billing.ledger_transactions SET description = 'x' WHERE id IN "
        "(SELECT transaction_id FROM billing.ledger_entries WHERE account_id = :a)",
        "DELETE FROM billing.ledger_transactions WHERE id IN "
        "(SELECT transaction_id FROM billing.ledger_entries WHERE account_id = :a)",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            await sql(billing_db, statement, a=account.id)
    with pytest.raises(DBAPIError, match="append-only"):
        await sql(billing_db, "TRUNCATE billing.ledger_entries CASCADE")
    [(total,)] = await sql(
        billing_db,
        "SELECT sum(amount) FROM billing.ledger_entries WHERE account_id = :a",
        a=account.id,
    )
    assert total == 1500


async def test_an_unbalanced_or_one_sided_transaction_is_refused_by_the_database(
    billing_db, billing_settings
):
    owner = uuid.uuid4()
    async with billing_db() as session, session.begin():
        account = await AccountDAO(session).ensure_wallet(owner, billing_settings.currency)
    txn = uuid.uuid4()
    await sql(
        billing_db,
        "INSERT INTO billing.ledger_transactions (id, kind, key, description, caused_by) "
        "VALUES (:t, 'adjustment', :k, 'test', 'test')",
        t=txn,
        k=f"test:{txn}",
    )
    insert = (
        "INSERT INTO billing.ledger_entries (transaction_id, account_id, amount, currency, kind,"
        " occurred_at) VALUES {values}"
    )
    one = "(:t, :a, 100, :c, 'adjustment', now())"
    with pytest.raises(DBAPIError, match="does not balance"):
        await sql(
            billing_db, insert.format(values=one), t=txn, a=account.id, c=billing_settings.currency
        )
    with pytest.raises(DBAPIError, match="does not balance"):
        await sql(
            billing_db,
            insert.format(values=f"{one}, (:t, :a, -99, :c, 'adjustment', now())"),
            t=txn,
            a=account.id,
            c=billing_settings.currency,
        )
    with pytest.raises(DBAPIError, match="currency"):
        await sql(
            billing_db,
            insert.format(values=f"{one}, (:t, :a, -100, :c, 'adjustment', now())"),
            t=txn,
            a=account.id,
            c="XXX",
        )
    assert (await wallet(billing_db, owner)).balance == 0


async def test_balance_is_the_sum_of_entries_and_a_key_posts_once(billing_db, billing_settings):
    owner = uuid.uuid4()
    currency = billing_settings.currency
    async with billing_db() as session, session.begin():
        accounts = AccountDAO(session)
        account = await accounts.ensure_wallet(owner, currency)
        other = await accounts.system_account("adjustments", currency)
        for n, amount in enumerate((700, -250, 42)):
            await post(
                session,
                kind="adjustment",
                key=f"test:{owner}:{n}",
                description="test",
                caused_by="test",
                currency=currency,
                legs=[Leg(account.id, amount), Leg(other, -amount)],
            )
        again = await post(
            session,
            kind="adjustment",
            key=f"test:{owner}:0",
            description="test",
            caused_by="test",
            currency=currency,
            legs=[Leg(account.id, 700), Leg(other, -700)],
        )
        assert again is None
    async with billing_db() as session:
        dao = AccountDAO(session)
        assert await dao.balance_from_entries(account.id) == 492
    assert (await wallet(billing_db, owner)).balance == 492
