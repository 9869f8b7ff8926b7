"""Each service reaches the database as its own runtime role: rows of its own schema only, no
schema changes, no way around billing's append-only ledger. Real PostgreSQL, the run's roles."""

import asyncio
import os
import secrets
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from berth_common.dbroles import provision, role_url, service_roles
from berth_common.migrations import upgrade
from berth_testing.plugin import (
    DEFAULT_SERVER,
    PlatformDatabase,
    _admin_sql,
    drop_database,
)

REFUSED = "permission denied|must be owner"


async def run(url: str, *statements: str, **params) -> list[tuple]:
    """Run statements in one transaction as the URL's role; the last one's rows."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            rows: list[tuple] = []
            for statement in statements:
                result = await conn.execute(text(statement), params)
                rows = [tuple(row) for row in result] if result.returns_rows else []
            return rows
    finally:
        await engine.dispose()


async def refused(url: str, statement: str, match: str = REFUSED) -> None:
    with pytest.raises(DBAPIError, match=match):
        await run(url, statement)


async def post_ledger_pair(url: str) -> uuid.UUID:
    """Two wallets and one balanced journal transaction between them; the transaction id."""
    txn = uuid.uuid4()
    a, b = uuid.uuid4(), uuid.uuid4()
    await run(
        url,
        "INSERT INTO billing.accounts (id, kind, owner_id, currency) VALUES "
        "(:a, 'wallet', gen_random_uuid(), 'EUR'), (:b, 'wallet', gen_random_uuid(), 'EUR')",
        "INSERT INTO billing.ledger_transactions (id, kind, key, description, caused_by) "
        "VALUES (:t, 'adjustment', :k, 'roles test', 'test')",
        "INSERT INTO billing.ledger_entries (transaction_id, account_id, amount, currency, kind,"
        " occurred_at) VALUES (:t, :a, 250, 'EUR', 'adjustment', now()),"
        " (:t, :b, -250, 'EUR', 'adjustment', now())",
        t=txn,
        a=a,
        b=b,
        k=f"roles-test:{txn}",
    )
    return txn


async def test_each_runtime_role_reads_and_writes_its_own_schema_and_nothing_else(
    platform_database: PlatformDatabase,
):
    tables = {
        schema: (
            await run(
                platform_database.url,
                "SELECT min(tablename) FROM pg_tables WHERE schemaname = :s",
                s=schema,
            )
        )[0][0]
        for schema in platform_database.roles
    }
    assert set(tables) >= {"auth", "billing", "deploy"}
    for schema, table in tables.items():
        mine = platform_database.runtime_url(schema)
        assert await run(mine, f'SELECT count(*) >= 0 FROM {schema}."{table}"') == [(True,)]
        for other, other_table in tables.items():
            if other != schema:
                await refused(mine, f'SELECT * FROM {other}."{other_table}" LIMIT 1')
                await refused(mine, f'DELETE FROM {other}."{other_table}"')
        await refused(mine, "CREATE TABLE public.planted (a int)")
        await refused(mine, f"CREATE TABLE {schema}.planted (a int)")
        await refused(mine, f"CREATE SCHEMA {schema}_extra")


async def test_a_runtime_role_cannot_change_or_empty_its_own_tables(
    platform_database: PlatformDatabase,
):
    deploy = platform_database.runtime_url("deploy")
    await refused(deploy, "DROP TABLE deploy.outbox")
    await refused(deploy, "ALTER TABLE deploy.outbox ADD COLUMN planted text")
    await refused(deploy, "TRUNCATE deploy.outbox")
    await refused(deploy, "CREATE INDEX ON deploy.outbox (routing_key)")


async def test_billing_runtime_role_cannot_get_around_the_append_only_ledger(
    platform_database: PlatformDatabase,
):
    billing = platform_database.runtime_url("billing")
    txn = await post_ledger_pair(billing)  # posting is what the role is for
    for statement in (
        "ALTER TABLE billing.ledger_entries DISABLE TRIGGER ledger_entries_append_only",
        "ALTER TABLE billing.ledger_entries DISABLE TRIGGER ALL",
        "DROP TRIGGER ledger_entries_append_only ON billing.ledger_entries",
        "DROP FUNCTION billing.forbid_ledger_change() CASCADE",
        "CREATE OR REPLACE FUNCTION billing.forbid_ledger_change() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$",
        "TRUNCATE billing.ledger_entries CASCADE",
        "TRUNCATE billing.ledger_transactions CASCADE",
        "SET session_replication_role = replica",
    ):
        await refused(billing, statement)
    with pytest.raises(DBAPIError, match="append-only"):
        await run(
            billing, f"UPDATE billing.ledger_entries SET amount = 1 WHERE transaction_id = '{txn}'"
        )
    with pytest.raises(DBAPIError, match="append-only"):
        await run(billing, f"DELETE FROM billing.ledger_transactions WHERE id = '{txn}'")
    rows = await run(
        platform_database.url,
        "SELECT sum(amount), count(*) FROM billing.ledger_entries WHERE transaction_id = :t",
        t=txn,
    )
    assert rows == [(0, 2)]


async def test_tables_a_later_migration_creates_are_usable_by_the_runtime_role_only(
    platform_database: PlatformDatabase,
):
    table = f"auth.later_{uuid.uuid4().hex[:8]}"
    owner, runtime = platform_database.owner_url("auth"), platform_database.runtime_url("auth")
    await run(owner, f"CREATE TABLE {table} (id bigserial PRIMARY KEY, note text)")
    try:
        assert await run(runtime, f"INSERT INTO {table} (note) VALUES ('hi') RETURNING id") == [
            (1,)
        ]
        assert await run(runtime, f"SELECT note FROM {table}") == [("hi",)]
        await refused(platform_database.runtime_url("billing"), f"SELECT * FROM {table}")
        await refused(runtime, f"DROP TABLE {table}")
    finally:
        await run(owner, f"DROP TABLE {table}")


async def test_no_other_role_may_connect_to_the_platform_database(
    platform_database: PlatformDatabase,
):
    name = f"stranger_{secrets.token_hex(6)}"
    await run(platform_database.url, f"CREATE ROLE {name} LOGIN")
    try:
        with pytest.raises(DBAPIError, match="permission denied for database"):
            await run(role_url(platform_database.url, name, "x"), "SELECT 1")
    finally:
        await run(platform_database.url, f"DROP ROLE {name}")


def test_provisioning_takes_over_a_schema_that_a_superuser_migrated(repo_root: Path):
    """A database from before these roles: migrated as the superuser, tables owned by it."""
    server = os.environ.get("TEST_DATABASE_URL", DEFAULT_SERVER)
    name = f"berth_legacy_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin_sql(server, f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(repo_root / "services" / "billing", url)
        roles = service_roles(
            name, "billing", owner_password=secrets.token_hex(8), runtime_password="first-pw"
        )
        asyncio.run(provision(url, [roles]))
        roles = service_roles(  # again, with a new password: idempotent, and it rotates
            name, "billing", owner_password=roles.owner_password, runtime_password="second-pw"
        )
        asyncio.run(provision(url, [roles]))
        owners = asyncio.run(
            run(
                url,
                "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class "
                "WHERE relnamespace = 'billing'::regnamespace "
                "UNION SELECT DISTINCT pg_get_userbyid(proowner) FROM pg_proc "
                "WHERE pronamespace = 'billing'::regnamespace "
                "UNION SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'billing'",
            )
        )
        assert owners == [(roles.owner,)]
        runtime = role_url(url, roles.runtime, roles.runtime_password)
        asyncio.run(post_ledger_pair(runtime))
        asyncio.run(refused(runtime, "ALTER TABLE billing.ledger_entries DISABLE TRIGGER ALL"))
        # the owner runs the next migrations: it may change the tables it now owns
        owner = role_url(url, roles.owner, roles.owner_password)
        upgrade(repo_root / "services" / "billing", owner)
        asyncio.run(run(owner, "ALTER TABLE billing.accounts ADD COLUMN later_column int"))
    finally:
        drop_database(url)
