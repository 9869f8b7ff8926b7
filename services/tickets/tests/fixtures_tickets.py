"""Fixtures and factories of tickets' in-process tests (star-imported by conftest.py).

The database, broker vhost, signing keys and environment come from berth_testing's plugin.
Each test makes its own people (random user ids) and departments, so tests never see each
other's tickets.
"""

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth_testing.people import Person, sql
from berth_testing.plugin import app_client, trust_keys
from berth_tickets.config import TicketsSettings

__all__ = [
    "API",
    "Person",
    "admin",
    "make_department",
    "open_ticket",
    "person",
    "services",
    "sql",
    "staff",
    "tickets_app",
    "tickets_db",
    "tickets_http",
    "tickets_settings",
]

API = "/api/tickets/v1"


@pytest.fixture(scope="session")
async def tickets_app(berth_env: dict[str, str]) -> FastAPI:
    from berth_tickets.main import create_app

    return create_app(TicketsSettings())


@pytest.fixture(scope="session")
async def tickets_http(
    tickets_app: FastAPI, public_jwks: dict[str, Any]
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(tickets_app) as client:
        trust_keys(tickets_app, public_jwks)
        yield client


@pytest.fixture(scope="session")
def tickets_db(tickets_http, tickets_app: FastAPI) -> async_sessionmaker[AsyncSession]:
    return tickets_app.state.db.sessionmaker


@pytest.fixture(scope="session")
def tickets_settings(tickets_app: FastAPI) -> TicketsSettings:
    return tickets_app.state.settings


@pytest.fixture
def person(signing_jwks):
    """A factory of customers: person() -> Person."""
    return lambda roles=None: Person(signing_jwks, roles)


@pytest.fixture
def staff(signing_jwks) -> Person:
    return Person(signing_jwks, ["user", "support"])


@pytest.fixture
def admin(signing_jwks) -> Person:
    return Person(signing_jwks, ["user", "admin"])


async def make_department(http: httpx.AsyncClient, admin: Person, **fields) -> dict:
    slug = fields.pop("slug", f"dept-{uuid.uuid4().hex[:8]}")
    r = await http.post(
        f"{API}/admin/departments",
        json={"slug": slug, "name": fields.pop("name", "Technical"), **fields},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def open_ticket(http: httpx.AsyncClient, who: Person, department: dict, **fields) -> dict:
    body = {
        "department": department["slug"],
        "subject": fields.pop("subject", "My app does not start"),
        "body": fields.pop("body", "It crashes at boot since this morning."),
        **fields,
    }
    r = await http.post(f"{API}/tickets", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


class Services:
    """What auth, deploy, billing and monitoring answer the tickets app in a test:
    `answers[path] = (status, body)`; any other path is a refused connection (a service
    down). `seen` keeps every request, to check whose token was sent."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, Any]] = {}
        self.seen: list[httpx.Request] = []

    def person(self, who: "Person | uuid.UUID", roles: tuple[str, ...] = ("user",)) -> None:
        """auth's directory knows this person (svc-tickets asks it with its own token)."""
        user_id = who.id if isinstance(who, Person) else who
        self.answers[f"/api/auth/v1/users/{user_id}"] = (
            200,
            {
                "id": str(user_id),
                "email": f"{user_id}@example.test",
                "name": "Ada Lovelace",
                "roles": list(roles),
                "is_blocked": False,
            },
        )

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "svc-token", "expires_in": 300})
        if request.url.path in self.answers:
            status, body = self.answers[request.url.path]
            return httpx.Response(status, json=body)
        raise httpx.ConnectError("refused", request=request)


@pytest.fixture
def services(tickets_app: FastAPI) -> Iterator[Services]:
    found = Services()
    upstream = tickets_app.state.upstream
    saved = upstream._client
    upstream._client = httpx.AsyncClient(transport=httpx.MockTransport(found.handler))
    upstream._token = None
    try:
        yield found
    finally:
        upstream._client = saved
        upstream._token = None
