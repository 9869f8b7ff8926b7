"""Fixtures and factories of billing's in-process tests (star-imported by conftest.py).

The database, broker vhost, signing keys and environment come from berth_common's plugin.
Each test makes its own people (random user ids) and uses hours of its own, so tests never
see each other's money.
"""

import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth_billing.config import BillingSettings
from berth_billing.models import Account, OutgoingEmail
from berth_billing.payments.provider import SIGNATURE_HEADER, SandboxProvider
from berth_testing.people import Person, sql
from berth_testing.plugin import app_client, trust_keys

__all__ = [
    "admin_headers",
    "billing_app",
    "billing_db",
    "billing_http",
    "billing_settings",
    "person",
]

API = "/api/billing/v1"


@pytest.fixture(scope="session")
async def billing_app(berth_env: dict[str, str]) -> FastAPI:
    from berth_billing.main import create_app

    return create_app()


@pytest.fixture(scope="session")
async def billing_http(
    billing_app: FastAPI, public_jwks: dict[str, Any]
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(billing_app) as client:
        trust_keys(billing_app, public_jwks)
        yield client


@pytest.fixture(scope="session")
def billing_db(billing_http, billing_app: FastAPI) -> async_sessionmaker[AsyncSession]:
    return billing_app.state.db.sessionmaker


@pytest.fixture(scope="session")
def billing_settings(billing_app: FastAPI) -> BillingSettings:
    return billing_app.state.settings


@pytest.fixture
def person(signing_jwks):
    """A factory of people: person() -> Person."""
    return lambda roles=None: Person(signing_jwks, roles)


@pytest.fixture(scope="session")
def admin_headers(signing_jwks) -> dict[str, str]:
    return Person(signing_jwks, ["user", "admin"]).headers


def provider(settings: BillingSettings) -> SandboxProvider:
    return SandboxProvider(settings)


def signed(settings: BillingSettings, body: bytes, timestamp: int | None = None) -> dict:
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: provider(settings).sign(body, timestamp),
    }


def event_body(
    settings: BillingSettings,
    payment: dict,
    *,
    type_: str = "payment.succeeded",
    event_id: str | None = None,
) -> bytes:
    return provider(settings).event_body(
        event_id=event_id or f"evt_{uuid.uuid4().hex}",
        type_=type_,
        provider_payment_id=payment["provider_payment_id"],
        amount=payment["amount"],
        currency=payment["currency"],
    )


async def top_up(http: httpx.AsyncClient, settings: BillingSettings, who, amount: int) -> dict:
    """A top-up paid in full: create, then the provider's signed success webhook."""
    r = await http.post(f"{API}/topups", json={"amount": amount}, headers=who.headers)
    assert r.status_code == 201, r.text
    payment = r.json()
    body = event_body(settings, payment)
    r = await http.post(f"{API}/webhooks/sandbox", content=body, headers=signed(settings, body))
    assert r.status_code == 200 and r.json()["outcome"] == "credited", r.text
    return payment


async def balance(http: httpx.AsyncClient, who) -> int:
    r = await http.get(f"{API}/account", headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()["balance"]


async def wallet(db, owner_id: uuid.UUID) -> Account:
    async with db() as session:
        return (
            await session.execute(select(Account).where(Account.owner_id == owner_id))
        ).scalar_one()


async def outbox_events(db, key: str, owner_id: uuid.UUID) -> list[dict]:
    rows = await sql(
        db,
        "SELECT body FROM billing.outbox WHERE routing_key = :k ORDER BY created_at",
        k=key,
    )
    found = []
    for (body,) in rows:
        payload = json.loads(body)[1]["event"]["payload"]
        if payload.get("owner_id") == str(owner_id):
            found.append(payload)
    return found


async def emails_of(db, account_id: uuid.UUID) -> list[OutgoingEmail]:
    async with db() as session:
        return list(
            (
                await session.execute(
                    select(OutgoingEmail)
                    .where(OutgoingEmail.account_id == account_id)
                    .order_by(OutgoingEmail.created_at)
                )
            ).scalars()
        )


def a_past_hour() -> datetime:
    """A full hour of its own for a test, years back, so runs of other tests never meet it."""
    base = datetime(2001, 1, 1, tzinfo=UTC)
    return base + timedelta(hours=random.randint(0, 24 * 365 * 15))
