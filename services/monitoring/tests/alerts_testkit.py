"""Fixtures of the alerts and status-page tests (imported by name by each test module): the
monitoring API in-process, its database, people, and receivers on 127.0.0.2 (the only
private address the run's MONITORING_ALLOWED_PRIVATE_NETWORKS opens)."""

import json
import os
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth_monitoring.config import MonitoringSettings
from berth_monitoring.models import Incident, Monitor
from berth_testing.oauth import bearer, mint_access_token
from berth_testing.plugin import app_client, trust_keys

API = "/api/monitoring/v1"
RECEIVER_HOST = "127.0.0.2"

__all__ = [
    "alerts_app",
    "alerts_db",
    "alerts_http",
    "alerts_person",
    "alerts_settings",
    "receiver",
]


@pytest.fixture(scope="session")
async def alerts_app(berth_env: dict[str, str]) -> FastAPI:
    from berth_monitoring.main import create_app

    return create_app(MonitoringSettings())


@pytest.fixture(scope="session")
async def alerts_http(
    alerts_app: FastAPI, public_jwks: dict[str, Any]
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(alerts_app) as client:
        trust_keys(alerts_app, public_jwks)
        yield client


@pytest.fixture(scope="session")
def alerts_db(alerts_http, alerts_app: FastAPI) -> async_sessionmaker[AsyncSession]:
    return alerts_app.state.db.sessionmaker


@pytest.fixture(scope="session")
def alerts_settings(alerts_app: FastAPI) -> MonitoringSettings:
    return alerts_app.state.settings


@dataclass
class Person:
    id: uuid.UUID
    headers: dict[str, str]


@pytest.fixture(scope="session")
def alerts_person(signing_jwks: dict[str, Any]):
    def make() -> Person:
        user_id = uuid.uuid4()
        token = mint_access_token(
            signing_jwks, issuer=os.environ["BERTH_PUBLIC_URL"], subject=str(user_id)
        )
        return Person(user_id, bearer(token))

    return make


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.2 that keeps what it is sent and answers the queued statuses
    (then 200)."""

    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def answer(self, *statuses: int) -> None:
        self.statuses[:] = list(statuses)

    def reset(self) -> None:
        self.received.clear()
        self.statuses.clear()


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.received.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            status = state.statuses.pop(0) if state.statuses else 200
            reply = json.dumps({"ok": 200 <= status < 300}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((RECEIVER_HOST, 0), Handler)
    state.url = f"http://{RECEIVER_HOST}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


async def add_monitor(db: async_sessionmaker[AsyncSession], owner_id: uuid.UUID, **values: Any):
    """A monitor row as the monitors API would insert it (that API is another module's)."""
    async with db() as session:
        monitor = Monitor(
            owner_id=owner_id,
            name=values.pop("name", f"api-{uuid.uuid4().hex[:6]}"),
            kind=values.pop("kind", "http"),
            url=values.pop("url", "https://internal-api.example.com/health"),
            interval_seconds=60,
            timeout_seconds=10,
            failure_threshold=3,
            success_threshold=2,
            # not due: the e2e platform's checker shares this run's database and would check it
            # (and alert its channels) while the test delivers by hand
            next_check_at=values.pop("next_check_at", datetime.now(UTC) + timedelta(days=1)),
            **values,
        )
        session.add(monitor)
        await session.commit()
        await session.refresh(monitor)
        return monitor


async def add_incident(
    db: async_sessionmaker[AsyncSession], monitor: Monitor, title: str | None = None
) -> Incident:
    from berth_monitoring.models import IncidentMonitor

    async with db() as session:
        incident = Incident(
            owner_id=monitor.owner_id,
            group_key=f"monitor:{monitor.id}",
            title=title or f"{monitor.url} is down",
        )
        session.add(incident)
        await session.flush()
        session.add(IncidentMonitor(incident_id=incident.id, monitor_id=monitor.id))
        await session.commit()
        await session.refresh(incident)
        return incident
