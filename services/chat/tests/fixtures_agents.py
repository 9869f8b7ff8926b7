"""Fixtures of chat's agent tests (star-imported by conftest.py).

`fake_platform` is a local HTTP server on 127.0.0.2 standing in for the pieces around chat:
Traefik's web entry with the agent behind it (`POST /chat`, scripted per test), deploy (a
customer's app with their token, any app with chat's machine token), auth's token endpoint and
tickets' service endpoint. Everything it receives is recorded for the tests to assert on.
"""

import asyncio
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from berth_chat.agents import answering as agents
from berth_chat.agents.upstream import Upstream
from berth_chat.config import ChatSettings
from berth_testing.oauth import bearer, mint_access_token
from berth_testing.plugin import app_client, trust_keys

__all__ = [
    "AGENTS_API",
    "FakePlatform",
    "Who",
    "chat_agents_app",
    "chat_agents_db",
    "chat_agents_http",
    "chat_agents_settings",
    "fake_platform",
    "run_task",
    "sql",
    "who",
]

AGENTS_API = "/api/chat/v1"
FAKE_HOST = "127.0.0.2"
SERVICE_TOKEN = "chat-service-token"


@dataclass
class Who:
    id: uuid.UUID
    token: str
    headers: dict[str, str]


@pytest.fixture
def who(signing_jwks):
    def make(roles: list[str] | None = None) -> Who:
        user_id = uuid.uuid4()
        token = mint_access_token(
            signing_jwks,
            issuer=os.environ["BERTH_PUBLIC_URL"],
            subject=str(user_id),
            roles=roles or ["user"],
        )
        return Who(user_id, token, bearer(token))

    return make


@dataclass
class FakePlatform:
    url: str
    # app id -> deploy's app body; owner token -> owner id
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    # what /chat answers next, per slug: a list of scripts, each used once (the last repeats)
    scripts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    chats: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)

    def app(self, owner: Who, *, template: str = "ai-agent", **fields: Any) -> dict[str, Any]:
        app_id = str(uuid.uuid4())
        body = {
            "id": app_id,
            "owner_id": str(owner.id),
            "slug": f"agent-{app_id[:8]}",
            "name": f"Agent {app_id[:4]}",
            "template": template,
            "status": "running",
            "status_reason": None,
            "suspended_by": None,
            **fields,
        }
        self.apps[app_id] = body
        self.tokens[owner.token] = str(owner.id)
        return body

    def script(self, app: dict[str, Any], *answers: dict[str, Any]) -> None:
        self.scripts[app["slug"]] = list(answers)

    def calls_to(self, app: dict[str, Any]) -> list[dict[str, Any]]:
        return [c for c in self.chats if c["host"] == f"{app['slug']}.apps.localhost"]


def _server(fake: FakePlatform) -> Starlette:
    async def token(request: Request) -> Response:
        return JSONResponse(
            {"access_token": SERVICE_TOKEN, "token_type": "Bearer", "expires_in": 300}
        )

    def _bearer(request: Request) -> str:
        return request.headers.get("authorization", "").removeprefix("Bearer ")

    async def customers_app(request: Request) -> Response:
        app = fake.apps.get(request.path_params["app_id"])
        if app is None or fake.tokens.get(_bearer(request)) != app["owner_id"]:
            return JSONResponse({"error": {"code": "not_found"}}, status_code=404)
        return JSONResponse(app)

    async def service_app(request: Request) -> Response:
        if _bearer(request) != SERVICE_TOKEN:
            return JSONResponse({"error": {"code": "unauthorized"}}, status_code=401)
        app = fake.apps.get(request.path_params["app_id"])
        if app is None:
            return JSONResponse({"error": {"code": "not_found"}}, status_code=404)
        return JSONResponse(app)

    async def open_ticket(request: Request) -> Response:
        if _bearer(request) != SERVICE_TOKEN:
            return JSONResponse({"error": {"code": "unauthorized"}}, status_code=401)
        body = await request.json()
        ticket = {"id": str(uuid.uuid4()), "number": f"T-{len(fake.tickets) + 1}", **body}
        fake.tickets.append(ticket)
        return JSONResponse(ticket, status_code=201)

    async def chat(request: Request) -> Response:
        host = request.headers.get("host", "")
        body = await request.json()
        fake.chats.append({"host": host, "accept": request.headers.get("accept"), **body})
        slug = host.split(".")[0]
        scripts = fake.scripts.get(slug) or [{"kind": "json", "reply": "echo: " + body["message"]}]
        script = scripts.pop(0) if len(scripts) > 1 else scripts[0]
        kind = script["kind"]
        if kind == "status":
            return JSONResponse({"error": "down"}, status_code=script["status"])
        if kind == "json":
            return JSONResponse({"reply": script["reply"]})

        async def pieces():
            for n, chunk in enumerate(script["chunks"]):
                if n == script.get("wait_after", -1) + 1 and script.get("gate"):
                    await fake.gates[script["gate"]].wait()
                if kind == "sse":
                    yield f"data: {json.dumps({'delta': chunk})}\n\n".encode()
                else:
                    yield (json.dumps({"delta": chunk}) + "\n").encode()
                await asyncio.sleep(script.get("pause", 0.01))
            if kind == "sse":
                yield b"event: done\ndata: {}\n\n"

        media = "text/event-stream" if kind == "sse" else "application/x-ndjson"
        return StreamingResponse(pieces(), media_type=media)

    return Starlette(
        routes=[
            Route("/oauth/token", token, methods=["POST"]),
            Route("/api/deploy/v1/apps/{app_id}", customers_app),
            Route("/api/deploy/v1/service/apps/{app_id}", service_app),
            Route("/api/tickets/v1/service/tickets", open_ticket, methods=["POST"]),
            Route("/chat", chat, methods=["POST"]),
        ]
    )


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
async def fake_platform() -> AsyncIterator[FakePlatform]:
    port = _free_port(FAKE_HOST)
    fake = FakePlatform(url=f"http://{FAKE_HOST}:{port}")
    server = uvicorn.Server(
        uvicorn.Config(
            _server(fake), host=FAKE_HOST, port=port, log_level="warning", lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(100):
        if server.started:
            break
        await asyncio.sleep(0.05)
    yield fake
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
def chat_agents_settings(berth_env: dict[str, str], fake_platform: FakePlatform) -> ChatSettings:
    return ChatSettings(
        CHAT_TRAEFIK_ENTRY_URL=fake_platform.url,
        DEPLOY_URL=fake_platform.url,
        TICKETS_URL=fake_platform.url,
        AUTH_URL=fake_platform.url,
        CHAT_CLIENT_ID="svc-chat",
        CHAT_CLIENT_SECRET="not-used-by-the-fake",
        agent_max_attempts=3,
        agent_read_timeout_seconds=5,
        agent_total_timeout_seconds=10,
        agent_stream_persist_seconds=0.05,
        message_rate="1000/second",
    )


@pytest.fixture(scope="session")
async def chat_agents_app(chat_agents_settings: ChatSettings) -> FastAPI:
    from berth_chat.main import create_app

    return create_app(chat_agents_settings)


@pytest.fixture(scope="session")
async def chat_agents_http(
    chat_agents_app: FastAPI, public_jwks: dict[str, Any]
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(chat_agents_app) as client:
        trust_keys(chat_agents_app, public_jwks)
        yield client


@pytest.fixture(scope="session")
def chat_agents_db(chat_agents_http, chat_agents_app: FastAPI) -> async_sessionmaker[AsyncSession]:
    return chat_agents_app.state.db.sessionmaker


async def sql(db: async_sessionmaker[AsyncSession], statement: str, **params) -> list:
    async with db() as session, session.begin():
        result = await session.execute(text(statement), params)
        return list(result.mappings().all()) if result.returns_rows else []


@pytest.fixture
def run_task(chat_agents_db, chat_agents_settings):
    """Run the Celery task's body as a worker would (its own transactions); returns the
    message_delta frames it fanned out live."""
    upstream = Upstream(chat_agents_settings)
    frames: list[dict] = []

    async def in_transaction(fn, **kwargs):
        async with chat_agents_db() as session:
            result = await fn(session, **kwargs)
            await session.commit()
            return result

    async def live(message):
        frames.append(json.loads(message.body))

    async def run(request_id):
        await agents.answer(in_transaction, upstream, chat_agents_settings, request_id, live)
        return frames

    return run
