"""Pooled connections against the real PostgreSQL: one that died while idle is replaced before
a session sees it; one that dies between two back-to-back uses fails that one use (a 503 at
the edge) and the next gets a new connection."""

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from berth_common.db import Database


async def backend_pid(db: Database) -> int:
    async with db.sessionmaker() as session:
        return (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()


async def terminate(other: Database, pid: int) -> None:
    """What a PostgreSQL restart does to a pooled connection, done from another pool."""
    async with other.engine.connect() as conn:
        assert (
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        ).scalar()
        await conn.commit()


@pytest.fixture
async def make_db(berth_env):
    made: list[Database] = []

    def make(ping_if_idle_seconds: float) -> Database:
        db = Database(
            berth_env["DATABASE_URL"],
            "public",
            pool_size=1,
            ping_if_idle_seconds=ping_if_idle_seconds,
        )
        made.append(db)
        return db

    yield make
    for db in made:
        await db.dispose()


async def test_a_connection_that_died_while_idle_is_replaced_before_use(make_db):
    db, other = make_db(0.2), make_db(0.2)
    first = await backend_pid(db)
    assert await backend_pid(db) == first  # reused while fresh
    await terminate(other, first)
    await asyncio.sleep(0.3)
    second = await backend_pid(db)
    assert second != first


async def test_a_connection_that_died_between_back_to_back_uses_fails_once(make_db):
    db, other = make_db(60), make_db(60)
    first = await backend_pid(db)
    await terminate(other, first)
    with pytest.raises(DBAPIError) as failed:
        await backend_pid(db)
    assert failed.value.connection_invalidated
    assert await backend_pid(db) not in (first, None)


async def test_the_pool_keeps_every_connection_it_opened_and_opens_no_more(berth_env):
    """A burst reuses the connections of the last burst: none is closed on return (a new one
    costs a TLS try, type introspection and re-prepared statements, the long tail of a busy
    service), and past `pool_size` a checkout waits (then times out, a 503) instead of
    opening extra ones."""
    db = Database(berth_env["DATABASE_URL"], "public", pool_size=3, pool_timeout=0.5)
    try:

        async def burst() -> set[int]:
            sessions = [db.sessionmaker() for _ in range(3)]
            pids = set()
            for session in sessions:
                pids.add((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())
            for session in sessions:
                await session.close()
            return pids

        first = await burst()
        assert len(first) == 3
        assert await burst() == first
        held = [await db.engine.connect() for _ in range(3)]
        with pytest.raises(PoolTimeout):
            await db.engine.connect()
        for conn in held:
            await conn.close()
    finally:
        await db.dispose()
