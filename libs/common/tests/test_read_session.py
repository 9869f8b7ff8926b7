"""ReadSessionDep against the real PostgreSQL: a request that only reads runs its query without
a transaction block (no BEGIN and COMMIT round trips), sees committed data, and cannot write."""

import uuid

import pytest
from fastapi import APIRouter, Request
from sqlalchemy import String, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from berth_common.app import create_service_app
from berth_common.config import ServiceSettings
from berth_common.db import Database, ReadsDep, ReadSessionDep, SessionDep, make_base
from berth_testing.plugin import app_client

Base = make_base("public")


class Probe(Base):
    __tablename__ = "read_session_probe"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)


async def in_transaction_block(session: AsyncSession) -> bool:
    """Whether PostgreSQL's side of the session's connection is inside BEGIN ... COMMIT."""
    raw = await (await session.connection()).get_raw_connection()
    return raw.driver_connection.is_in_transaction()


def build(database_url: str):
    router = APIRouter()

    @router.get("/read")
    async def read(session: ReadSessionDep) -> dict:
        probes = (await session.execute(text("SELECT count(*) FROM read_session_probe"))).scalar()
        return {"probes": probes, "in_transaction": await in_transaction_block(session)}

    @router.get("/read-one")
    async def read_one(reads: ReadsDep) -> dict:
        statement = text("SELECT count(*) AS probes FROM read_session_probe WHERE id <> :skip")
        return {"probes": (await reads.first(statement, {"skip": "none"})).probes}

    @router.get("/checked-out")
    async def checked_out(request: Request) -> int:
        return request.app.state.db.engine.pool.checkedout()

    @router.get("/write-path")
    async def write_path(session: SessionDep) -> dict:
        await session.execute(text("SELECT 1"))
        return {"in_transaction": await in_transaction_block(session)}

    @router.post("/sneaky-write")
    async def sneaky_write(session: ReadSessionDep) -> dict:
        session.add(Probe(id=str(uuid.uuid4())))
        await session.flush()
        return {"written": True}

    app = create_service_app(ServiceSettings(service_name="t"), title="t", routers=[router])
    app.state.db = Database(database_url, "public", pool_size=1)
    return app


@pytest.fixture
async def client(database_url):
    app = build(database_url)
    async with app.state.db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        await conn.execute(text("DELETE FROM read_session_probe"))
        await conn.execute(text("INSERT INTO read_session_probe (id) VALUES ('committed')"))
    async with app_client(app) as c:
        yield c
    async with app.state.db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
    await app.state.db.dispose()


async def test_a_read_request_runs_outside_a_transaction_block(client):
    assert (await client.get("/read")).json() == {"probes": 1, "in_transaction": False}
    # the request session (pooled on the same single connection) still opens one
    assert (await client.get("/write-path")).json() == {"in_transaction": True}
    assert (await client.get("/read")).json()["in_transaction"] is False


async def test_a_read_session_refuses_to_write(client):
    # a bug, not a bad input: the server error (a 500 to a client) is raised before any SQL
    with pytest.raises(RuntimeError, match="read-only session cannot write"):
        await client.post("/sneaky-write")
    assert (await client.get("/read")).json()["probes"] == 1


async def test_a_single_read_gives_its_connection_back(client):
    for _ in range(3):  # one pooled connection: each read must have given it back
        assert (await client.get("/read-one")).json() == {"probes": 1}
    assert (await client.get("/checked-out")).json() == 0
