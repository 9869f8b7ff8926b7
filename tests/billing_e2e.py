"""Helpers of the billing end-to-end tests: people with tokens, signed provider webhooks,
deploy events onto the platform's broker, billing events read off it, SQL on the run's DB."""

import asyncio
import hashlib
import hmac
import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from support import PASSWORD

from berth_common.broker import AmqpPublisher
from berth_common.messages import EVENTS_EXCHANGE, event_message
from berth_testing.oauth import bearer, password_login
from berth_testing.processes import wait_until

API = "/api/billing/v1"


@dataclass
class Person:
    email: str
    id: str
    headers: dict[str, str]


def sign_in(edge: httpx.Client, email: str) -> Person:
    r = password_login(edge, email, PASSWORD)
    assert r.status_code == 200, r.text
    headers = bearer(r.json()["access_token"])
    me = edge.get("/api/auth/v1/me", headers=headers)
    assert me.status_code == 200, me.text
    return Person(email=email, id=me.json()["id"], headers=headers)


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def provider_event(payment: dict, type_: str = "payment.succeeded", event_id: str | None = None):
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex}",
            "type": type_,
            "created": int(time.time()),
            "data": {
                "payment_id": payment["provider_payment_id"],
                "amount": payment["amount"],
                "currency": payment["currency"],
            },
        }
    ).encode()


def balance(edge: httpx.Client, who: Person) -> int:
    r = edge.get(f"{API}/account", headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()["balance"]


def wait_for_balance(edge: httpx.Client, who: Person, expected: int, timeout: float = 60) -> None:
    wait_until(lambda: balance(edge, who) == expected, timeout, f"balance {expected}")


def top_up_via_checkout(edge: httpx.Client, who: Person, amount: int) -> dict:
    """The way a person pays: create the top-up, open the checkout page, press Pay."""
    r = edge.post(f"{API}/topups", json={"amount": amount}, headers=who.headers)
    assert r.status_code == 201, r.text
    payment = r.json()
    path = httpx.URL(payment["checkout_url"]).path
    page = edge.get(path, headers=who.headers)
    assert page.status_code == 200 and 'value="pay"' in page.text, page.text
    r = edge.post(path, data={"decision": "pay"}, headers=who.headers)
    assert r.status_code == 200, r.text
    return payment


async def _publish(broker_url: str, events: list[tuple[str, dict]]) -> None:
    publisher = AmqpPublisher(broker_url)
    try:
        for key, payload in events:
            await publisher.publish(event_message(key, payload, source="deploy"))
    finally:
        await publisher.close()


def publish_deploy_events(broker_url: str, events: list[tuple[str, dict]]) -> None:
    asyncio.run(_publish(broker_url, events))


class EventTap:
    """A queue of the test's own on the events exchange: what billing announces."""

    def __init__(self, broker_url: str, key: str):
        self.broker_url = broker_url
        self.key = key
        self.name = f"test-tap-{uuid.uuid4().hex[:8]}"

    async def _declare(self) -> None:
        conn = await aio_pika.connect_robust(self.broker_url)
        async with conn:
            channel = await conn.channel()
            exchange = await channel.declare_exchange(
                EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
            )
            queue = await channel.declare_queue(self.name, durable=False, auto_delete=False)
            await queue.bind(exchange, routing_key=self.key)

    async def _drain(self) -> list[dict[str, Any]]:
        conn = await aio_pika.connect_robust(self.broker_url)
        found = []
        async with conn:
            channel = await conn.channel()
            queue = await channel.get_queue(self.name)
            while (message := await queue.get(fail=False, no_ack=True)) is not None:
                envelope = json.loads(message.body)[1]["event"]
                found.append({"key": envelope["key"], **envelope["payload"]})
        return found

    async def _delete(self) -> None:
        conn = await aio_pika.connect_robust(self.broker_url)
        async with conn:
            channel = await conn.channel()
            await channel.queue_delete(self.name)

    def __enter__(self) -> "EventTap":
        asyncio.run(self._declare())
        self.seen: list[dict[str, Any]] = []
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run(self._delete())

    def wait_for(self, key: str, owner_id: str, timeout: float = 60) -> dict[str, Any]:
        def arrived() -> bool:
            self.seen += asyncio.run(self._drain())
            return any(e["key"] == key and e["owner_id"] == owner_id for e in self.seen)

        wait_until(arrived, timeout, f"{key} for {owner_id}", interval=0.3)
        return next(e for e in self.seen if e["key"] == key and e["owner_id"] == owner_id)

    def of(self, key: str, owner_id: str) -> list[dict[str, Any]]:
        self.seen += asyncio.run(self._drain())
        return [e for e in self.seen if e["key"] == key and e["owner_id"] == owner_id]


def sql(database_url: str, statement: str, **params) -> list:
    async def run() -> list:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(statement), params)
                return list(result.all()) if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


def pdf_text(data: bytes) -> str:
    """The text of a PDF's page streams (fpdf2 deflates them)."""
    import re
    import zlib

    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    out = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            out.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            out.append(stream.decode("latin-1"))
    return "\n".join(out)


def an_hour_of_its_own() -> datetime:
    return datetime(2002, 1, 1, tzinfo=UTC) + timedelta(hours=random.randint(0, 24 * 365 * 10))


def instance_events(owner_id: str, plan: str, start: datetime, stop: datetime):
    instance, app = str(uuid.uuid4()), str(uuid.uuid4())
    common = {"instance_id": instance, "app_id": app, "owner_id": owner_id, "plan_key": plan}
    return instance, [
        # the stop is published first: billing must still get the interval right
        (
            "deploy.instance.stopped",
            {**common, "stopped_at": stop.isoformat(), "reason": "redeploy"},
        ),
        (
            "deploy.instance.started",
            {**common, "app_slug": "blog", "started_at": start.isoformat()},
        ),
    ]


def wait_for_interval(database_url: str, instance: str) -> None:
    def recorded() -> bool:
        rows = sql(
            database_url,
            "SELECT started_at, stopped_at FROM billing.usage_intervals WHERE instance_id = :i",
            i=instance,
        )
        return bool(rows) and all(rows[0])

    wait_until(recorded, 60, f"interval of {instance}")


def run_metering(edge, admin: dict, hour: datetime, hours: int) -> None:
    r = edge.post(
        f"{API}/admin/metering/runs",
        json={"hour": hour.isoformat(), "hours": hours},
        headers=admin,
    )
    assert r.status_code == 202, r.text
    assert len(r.json()["task_ids"]) == hours


def finished_runs(database_url: str, hour: datetime, hours: int, since: datetime) -> int:
    """Runs over [hour, hour + hours) that finished, among those started since `since`."""
    [(count,)] = sql(
        database_url,
        "SELECT count(*) FROM billing.metering_runs WHERE hour >= :h AND hour < :e "
        "AND finished_at IS NOT NULL AND started_at >= :s",
        h=hour,
        e=hour + timedelta(hours=hours),
        s=since,
    )
    return count


def db_now(database_url: str) -> datetime:
    return sql(database_url, "SELECT now()")[0][0]
