"""PostgreSQL stops under the running platform: every service answers 503 with the JSON error
shape while it is down (never a 500, never a hang), and answers again once it is back, with no
service restarted; afterwards auth's outbox relay and Celery worker still send a sign-up's mail."""

import threading
import time
import uuid
from collections import Counter

import httpx
import pytest
from support import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD

from berth_testing.faults import record, wait_for
from berth_testing.oauth import bearer, password_login

FAULT_WORKERS = ("auth",)

# one route per service that reads the service's own database, through Traefik and forwardAuth
READS = {
    "auth": "/api/auth/v1/me",
    "billing": "/api/billing/v1/invoices",
    "deploy": "/api/deploy/v1/apps",
    "monitoring": "/api/monitoring/v1/monitors",
    "tickets": "/api/tickets/v1/tickets",
    "chat": "/api/chat/v1/conversations",
}


def _is_outage(response: httpx.Response) -> bool:
    if response.status_code != 503:
        return False
    body = response.json()
    return body["error"]["code"] == "service_unavailable" and body["error"]["message"]


class Hammer(threading.Thread):
    """Calls every service's read in turn, without pause, across the stop and the start (the
    moments a request is in flight as the server shuts down or is still starting up)."""

    def __init__(self, base_url: str, headers: dict[str, str], reads: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.base_url, self.headers, self.reads = base_url, headers, reads
        self.stopping = threading.Event()
        self.statuses: Counter[int] = Counter()
        self.bad: list[tuple[str, int, str]] = []  # a 5xx other than the JSON 503

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as edge:
            while not self.stopping.is_set():
                for service, path in self.reads.items():
                    r = edge.get(path, headers=self.headers)
                    self.statuses[r.status_code] += 1
                    if r.status_code >= 500 and not _is_outage(r):
                        self.bad.append((service, r.status_code, r.text[:300]))

    def stop(self) -> None:
        self.stopping.set()
        self.join(60)


@pytest.mark.timeout(900)
def test_every_service_answers_503_while_postgres_is_down_and_recovers(fault_platform):
    plat = fault_platform.platform
    reads = {s: path for s, path in READS.items() if s in plat.processes}
    with httpx.Client(base_url=plat.public_url, timeout=20) as edge:
        r = password_login(edge, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert r.status_code == 200, r.text
        headers = bearer(r.json()["access_token"])
        for service, path in reads.items():
            r = edge.get(path, headers=headers)
            assert r.status_code == 200, (service, r.status_code, r.text)

        hammer = Hammer(plat.public_url, headers, reads)
        hammer.start()
        time.sleep(1)
        fault_platform.postgres.stop_server()
        down_at = time.monotonic()
        try:
            seen: dict[str, list[int]] = {s: [] for s in reads}
            for _ in range(3):  # a fresh pool, a pool of dead connections, a retry
                for service, path in reads.items():
                    r = edge.get(path, headers=headers)
                    seen[service].append(r.status_code)
                    assert _is_outage(r), (service, r.status_code, r.text)
                    assert r.headers.get("content-type", "").startswith("application/json")
            # a write as well: signing in needs auth's database
            r = password_login(edge, ADMIN_EMAIL, ADMIN_PASSWORD)
            assert _is_outage(r), (r.status_code, r.text)
            record(f"postgres down: {sum(map(len, seen.values())) + 1} requests, all 503: {seen}")
        finally:
            fault_platform.postgres.start_server()
        outage = time.monotonic() - down_at

        recovered_in: dict[str, float] = {}
        for service, path in reads.items():
            wait_for(
                lambda path=path: edge.get(path, headers=headers).status_code == 200,
                60,
                f"{service} answering after PostgreSQL came back",
            )
            recovered_in[service] = round(time.monotonic() - down_at - outage, 2)
        hammer.stop()
        r = password_login(edge, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert r.status_code == 200, r.text
        record(f"postgres back: every service answers again, seconds after start: {recovered_in}")
        record(f"postgres restart, concurrent reads by status: {dict(hammer.statuses)}")
        assert hammer.bad == [], hammer.bad[:5]

        # the outbox relay and auth's Celery worker came through as well: a sign-up's mail
        email = f"after-pg-{uuid.uuid4().hex[:8]}@example.test"
        r = edge.post(
            "/api/auth/v1/register", json={"email": email, "password": PASSWORD, "name": "Ada"}
        )
        assert r.status_code == 201, r.text
        assert len(plat.wait_for_mail(email, timeout=90)) == 1
