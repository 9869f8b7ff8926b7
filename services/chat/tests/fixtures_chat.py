"""Fixtures and helpers of the chat service tests (star-imported by conftest.py): the app in-process (real PostgreSQL and RabbitMQ),
driven by Starlette's TestClient for both REST and the WebSocket."""

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from berth_testing.people import Person
from berth_testing.plugin import trust_keys

__all__ = [
    "API",
    "WS",
    "Person",
    "chat_client",
    "person",
    "staff",
    "start_conversation",
]

API = "/api/chat/v1"
WS = "/api/chat/v1/ws"


@pytest.fixture(scope="session")
def chat_client(berth_env: dict[str, str], public_jwks: dict[str, Any]) -> Iterator[TestClient]:
    from berth_chat.config import ChatSettings
    from berth_chat.main import create_app

    app = create_app(ChatSettings(message_rate="1000/second"))
    with TestClient(app) as client:
        trust_keys(app, public_jwks)
        yield client


@pytest.fixture
def person(signing_jwks):
    return lambda roles=None: Person(signing_jwks, roles)


@pytest.fixture
def staff(signing_jwks) -> Person:
    return Person(signing_jwks, ["user", "support"])


def start_conversation(client: TestClient, who: Person) -> dict:
    r = client.post(f"{API}/conversations", json={"subject": "help"}, headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


def until(ws, kind: str, limit: int = 50) -> dict:
    """The next frame of `kind` on a TestClient WebSocket (others skipped, at most `limit`)."""
    for _ in range(limit):
        frame = ws.receive_json()
        if frame["type"] == kind:
            return frame
    raise AssertionError(f"no {kind} frame")
