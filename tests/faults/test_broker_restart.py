"""RabbitMQ's app stops and starts (`rabbitmqctl stop_app` / `start_app`) under a steady load of
sign-ups: every sign-up still succeeds (its mail task waits in auth's outbox), the outbox relay
publishes once the broker is back, the Celery worker reconnects and sends every verification
mail exactly once. No service is restarted."""

import asyncio
import threading
import time
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from support import PASSWORD

from berth_testing.faults import (
    distinct_messages,
    kill_worker_repeatedly,
    lost_and_duplicated,
    record,
    repeated_deliveries,
    settle,
    wait_for,
)

FAULT_SERVICES = ("auth",)
FAULT_WORKERS = ("auth",)
LOOPS = 2


class SignUps(threading.Thread):
    """Registers a new person every `pause` seconds through Traefik until stopped."""

    def __init__(self, base_url: str, pause: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.pause = pause
        self.stopping = threading.Event()
        self.accepted: list[str] = []
        #: (started, finished) of each accepted sign-up, monotonic seconds
        self.times: list[tuple[float, float]] = []
        self.refused: list[tuple[int, str]] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as edge:
            while not self.stopping.is_set():
                email = f"fault-{uuid.uuid4().hex[:10]}@example.test"
                started = time.monotonic()
                r = edge.post(
                    "/api/auth/v1/register",
                    json={"email": email, "password": PASSWORD, "name": "Ada"},
                )
                if r.status_code == 201:
                    self.accepted.append(email)
                    self.times.append((started, time.monotonic()))
                else:
                    self.refused.append((r.status_code, r.text[:200]))
                time.sleep(self.pause)

    @property
    def done(self) -> list[str]:  # what berth_testing.faults' kill loop counts
        return self.accepted

    def stop(self) -> None:
        self.stopping.set()
        self.join(60)


async def unpublished(database_url: str) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            query = "SELECT count(*) FROM auth.outbox WHERE published_at IS NULL"
            return (await conn.execute(text(query))).scalar_one()
    finally:
        await engine.dispose()


@pytest.mark.timeout(900)
def test_signups_survive_broker_restarts_with_every_mail_sent_once(fault_platform):
    plat = fault_platform.platform
    rabbit = fault_platform.rabbit
    for loop in range(1, LOOPS + 1):
        load = SignUps(plat.public_url)
        load.start()
        try:
            wait_for(lambda load=load: len(load.accepted) >= 3, 60, "sign-ups before the fault")
            rabbit.stop_app()
            down = time.monotonic()
            time.sleep(5)  # sign-ups keep coming while the broker is away
            up = time.monotonic()
            rabbit.start_app()
            back = len(load.accepted) + 5
            wait_for(lambda load=load, n=back: len(load.accepted) >= n, 60, "sign-ups after")
        finally:
            load.stop()
        assert load.refused == [], load.refused[:5]
        # a sign-up's request does not wait for the broker (the outbox keeps its mail task)
        during = sum(1 for started, done in load.times if down <= started and done <= up)
        slowest = max(done - started for started, done in load.times if started >= down)
        assert during > 0, "no sign-up was both made and answered while the broker was down"

        per_person = settle(
            lambda load=load: {e: distinct_messages(plat.mails(e)) for e in load.accepted},
            "every verification mail sent",
            timeout=120,
        )
        lost, duplicated = lost_and_duplicated(per_person)
        left = asyncio.run(unpublished(fault_platform.database.url))
        record(
            f"broker restart loop {loop}: {len(load.accepted)} sign-ups "
            f"({during} made and answered while the broker was down; slowest since the stop "
            f"{slowest:.2f}s), mails lost {lost}, duplicated {duplicated}, "
            f"outbox rows unpublished {left}"
        )
        assert (lost, duplicated, left) == (0, 0, 0)


KILLS = 3


@pytest.mark.timeout(900)
def test_signups_survive_auth_worker_kills_with_every_mail_sent_once(fault_platform):
    """The auth queue's worker SIGKILLed in a loop under the same load (late acknowledgement
    redelivers; the mail row's status stops a second send)."""
    plat = fault_platform.platform
    load = SignUps(plat.public_url)
    load.start()
    try:
        kill_worker_repeatedly(plat, "auth", KILLS, load)
    finally:
        load.stop()
    assert load.refused == [], load.refused[:5]
    per_person = settle(
        lambda: {e: distinct_messages(plat.mails(e)) for e in load.accepted},
        "every verification mail sent",
    )
    lost, duplicated = lost_and_duplicated(per_person)
    repeats = sum(repeated_deliveries(plat.mails(e)) for e in load.accepted)
    record(
        f"auth worker kills: {KILLS} SIGKILLs, {len(load.accepted)} sign-ups, "
        f"mails lost {lost}, duplicated {duplicated}, the same mail delivered again "
        f"(same Message-ID) {repeats}"
    )
    assert (lost, duplicated) == (0, 0)
