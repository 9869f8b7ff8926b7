"""The app factory's error shape, readiness and token checks, seen as a client sees them."""

import time
import uuid

import httpx
import pytest
from fastapi import APIRouter
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from pydantic import BaseModel, Field
from sqlalchemy import text

from berth_common.app import create_service_app
from berth_common.config import ServiceSettings
from berth_common.db import Database, SessionDep
from berth_common.errors import Conflict
from berth_common.security import (
    AdminUser,
    CurrentPrincipal,
    CurrentUserId,
    JWKSCache,
    TokenVerifier,
)
from berth_testing.plugin import app_client

ISSUER = "http://localhost:8080"


class Thing(BaseModel):
    name: str = Field(min_length=1, max_length=10)


def build(database_url: str, keys: KeySet):
    router = APIRouter()

    @router.post("/things", status_code=201)
    async def create(thing: Thing) -> Thing:
        if thing.name == "taken":
            raise Conflict("Name taken")
        return thing

    @router.get("/db")
    async def db_time(session: SessionDep) -> dict:
        return {"one": (await session.execute(text("SELECT 1"))).scalar_one()}

    @router.get("/whoami")
    async def whoami(p: CurrentPrincipal) -> dict:
        return {"sub": p.subject, "kind": p.kind, "roles": sorted(p.roles)}

    @router.get("/my-id")
    async def my_id(user_id: CurrentUserId) -> dict:
        return {"user_id": str(user_id)}

    @router.get("/admin-only")
    async def admin_only(p: AdminUser) -> dict:
        return {"ok": True}

    app = create_service_app(ServiceSettings(service_name="t"), title="t", routers=[router])
    app.state.db = Database(database_url, "public")
    jwks = JWKSCache("http://127.0.0.1:1/jwks")
    jwks.load(keys.as_dict(private=False))
    app.state.token_verifier = TokenVerifier(jwks, issuer=ISSUER, audience="berth")
    return app


@pytest.fixture(scope="module")
def key() -> ECKey:
    return ECKey.generate_key("P-256", auto_kid=True)


def token(key: ECKey, **over) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "berth",
        "sub": "u1",
        "client_id": "berth-panel",
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "scope": "",
        "roles": ["user"],
    }
    header = {"alg": "ES256", "typ": "at+jwt", "kid": key.kid}
    header.update(over.pop("header", {}))
    claims.update(over)
    return jwt.encode(header, claims, key)


@pytest.fixture
async def client(database_url, key):
    async with app_client(build(database_url, KeySet([key]))) as c:
        yield c


def assert_error(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


async def test_validation_error_has_common_shape_and_no_echo(client):
    err = assert_error(
        await client.post("/things", json={"name": "x" * 50}), 422, "validation_error"
    )
    assert "x" * 50 not in str(err)
    assert_error(
        await client.post(
            "/things", content=b"{not json", headers={"content-type": "application/json"}
        ),
        422,
        "validation_error",
    )


async def test_domain_error_and_unknown_route(client):
    assert_error(await client.post("/things", json={"name": "taken"}), 409, "conflict")
    assert_error(await client.get("/nope"), 404, "not_found")
    assert_error(await client.delete("/things"), 405, "method_not_allowed")


async def test_request_id_is_echoed_or_made(client):
    r = await client.get("/health", headers={"X-Request-Id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/health", headers={"X-Request-Id": "bad id\twith junk"})
    assert r.headers["x-request-id"] != "bad id\twith junk" and len(r.headers["x-request-id"]) == 32


async def test_metrics_exposed(client):
    await client.get("/health")
    r = await client.get("/metrics")
    assert r.status_code == 200 and "berth_http_requests_total" in r.text


async def test_database_outage_answers_503(key):
    app = build("postgresql+asyncpg://postgres@127.0.0.1:1/none", KeySet([key]))
    async with app_client(app) as c:
        err = assert_error(await c.get("/db"), 503, "service_unavailable")
        assert "Traceback" not in err["message"]


async def test_database_ok(client):
    assert (await client.get("/db")).json() == {"one": 1}


async def test_valid_token_gives_identity(client, key):
    r = await client.get("/whoami", headers={"Authorization": f"Bearer {token(key)}"})
    assert r.json() == {"sub": "u1", "kind": "user", "roles": ["user"]}
    r = await client.get(
        "/whoami", cookies={"berth_access": token(key, sub="c1", client_id="c1", roles=[])}
    )
    assert r.json()["kind"] == "client"


@pytest.mark.parametrize(
    "bad",
    [
        "garbage",
        "a.b.c",
        "Basic xyz",
    ],
)
async def test_garbled_tokens_401(client, bad):
    header = bad if bad.startswith("Basic") else f"Bearer {bad}"
    r = await client.get("/whoami", headers={"Authorization": header})
    assert_error(r, 401, "unauthorized")
    assert r.headers["www-authenticate"].startswith("Bearer")


async def test_expired_other_key_wrong_audience_wrong_type_401(client, key):
    other = ECKey.generate_key("P-256", auto_kid=True)
    now = int(time.time())
    for bad in (
        token(key, exp=now - 60, iat=now - 400),
        token(other),
        token(other, header={"kid": key.kid}),
        token(key, aud="someone-else"),
        token(key, iss="http://evil"),
        token(key, header={"typ": "JWT"}),
    ):
        assert_error(
            await client.get("/whoami", headers={"Authorization": f"Bearer {bad}"}),
            401,
            "unauthorized",
        )


async def test_role_checked_in_service(client, key):
    assert_error(
        await client.get("/admin-only", headers={"Authorization": f"Bearer {token(key)}"}),
        403,
        "forbidden",
    )
    r = await client.get(
        "/admin-only", headers={"Authorization": f"Bearer {token(key, roles=['user', 'admin'])}"}
    )
    assert r.status_code == 200
    assert_error(await client.get("/admin-only"), 401, "unauthorized")


async def test_current_user_id_is_the_person_s_uuid(client, key):
    user_id = uuid.uuid4()
    r = await client.get(
        "/my-id", headers={"Authorization": f"Bearer {token(key, sub=str(user_id))}"}
    )
    assert r.json() == {"user_id": str(user_id)}
    # a person's token whose subject is no user id, and a machine client's token
    client_id = str(uuid.uuid4())
    for bad in (token(key), token(key, sub=client_id, client_id=client_id, roles=[])):
        error = assert_error(
            await client.get("/my-id", headers={"Authorization": f"Bearer {bad}"}), 403, "forbidden"
        )
        assert "not" in error["message"]
    assert_error(await client.get("/my-id"), 401, "unauthorized")


@pytest.mark.parametrize("failure", ["AdminShutdownError", "CannotConnectNowError"])
async def test_a_restarting_database_answers_503_not_500(failure):
    """PostgreSQL shutting down (57P01) or still starting up (57P03) mid-request reaches the app
    as a DBAPIError that SQLAlchemy does not count as a disconnect: still the outage's 503
    (found by tests/faults/test_postgres_restart.py)."""
    import asyncpg.exceptions
    from fastapi import FastAPI
    from sqlalchemy.exc import DBAPIError

    from berth_common.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)
    orig = getattr(asyncpg.exceptions, failure)("the database system is shutting down")

    @app.get("/restarting")
    async def restarting() -> None:
        raise DBAPIError("SELECT 1", None, orig)

    async with app_client(app) as c:
        assert_error(await c.get("/restarting"), 503, "service_unavailable")


async def test_text_the_database_cannot_hold_is_a_422_not_a_500():
    """A NUL byte in any text a user sends (PostgreSQL text never holds one: SQLSTATE 22021)
    is the input's fault, whatever field it was (found by the OpenAPI fuzzer in chat)."""
    import asyncpg.exceptions
    from fastapi import FastAPI
    from sqlalchemy.exc import DBAPIError

    from berth_common.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)
    orig = asyncpg.exceptions.CharacterNotInRepertoireError(
        'invalid byte sequence for encoding "UTF8": 0x00'
    )

    @app.post("/text")
    async def text() -> None:
        raise DBAPIError("INSERT", None, orig)

    async with app_client(app) as c:
        assert_error(await c.post("/text"), 422, "invalid_text")


async def test_a_request_that_waited_out_the_pool_answers_503_not_500():
    """Every pooled connection busy past the pool's wait: the service is saturated, a 503 with
    Retry-After, not an internal error."""
    from fastapi import FastAPI
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from berth_common.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/busy")
    async def busy() -> None:
        raise PoolTimeout("QueuePool limit of size 20 overflow 0 reached")

    async with app_client(app) as c:
        r = await c.get("/busy")
        assert_error(r, 503, "service_unavailable")
        assert r.headers["retry-after"] == "2"
