"""On-call queue pages against the real broker: a queue fills while its worker is stopped and
drains after the restart, the oldest-message (and no-consumer) alert fires exactly once and
recovers once (one Notification per channel, episode and event), and only on-call engineers
and admins see any of it."""

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
from deploy_e2e import sql
from frontend_web import WebClient
from kombu import Connection, Exchange, Producer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from support import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD

from berth_common.messages import EVENT_TASK, task_message
from berth_testing.oauth import bearer, password_login
from berth_testing.platform import Platform
from berth_testing.processes import ManagedProcess, http_ok, wait_until

API = "/api/monitoring/v1/ops/queues"
QUEUE = "auth"  # a queue every run has; its worker is stopped and started again here
OLDEST_AGE_LIMIT = 6  # seconds
NO_CONSUMERS_LIMIT = 4  # seconds


@pytest.fixture(scope="module")
def admin_web(platform: Platform) -> Iterator[WebClient]:
    """The admin signed in to the frontend, as a browser is."""
    with WebClient(platform.public_url) as web:
        web.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        yield web


def _page_row(web: WebClient) -> str:
    """The queue's row of the /ops/queues page."""
    page = web.get("/ops/queues")
    assert page.status_code == 200, page.text[:500]
    start = page.text.index(f'<tr data-queue="{QUEUE}">')
    return page.text[start : page.text.index("</tr>", start)]


@pytest.fixture(scope="module")
def queue_pages(platform: Platform, tmp_path_factory) -> Iterator[None]:
    """Monitoring's beat (the sampler every 2 s) and its Celery events consumer."""
    prometheus = "http://127.0.0.1:15692/metrics"
    if not http_ok(prometheus)():
        pytest.fail(
            f"RabbitMQ's Prometheus endpoint ({prometheus}) does not answer: "
            "scripts/install-system-deps.sh enables it (rabbitmq-plugins enable rabbitmq_prometheus)"
        )
    work = tmp_path_factory.mktemp("queue-pages")
    env = platform.env_for("monitoring")
    procs = [
        ManagedProcess(
            "monitoring-beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "berth_monitoring.worker",
                "beat",
                "-s",
                str(work / "celerybeat"),
            ],
            env=env,
            log_dir=work,
            cwd=platform.root,
        ).start(),
        ManagedProcess(
            "monitoring-events",
            [sys.executable, "-m", "berth_monitoring.queues.events"],
            env=env,
            log_dir=work,
            cwd=platform.root,
        ).start(),
    ]
    yield
    for proc in procs:
        proc.stop()


def _seed_channel(platform: Platform, owner_id: str) -> str:
    """An email alert channel of `owner_id` (the channels API is another page's work)."""
    channel_id = str(uuid.uuid4())

    async def insert() -> None:
        engine = create_async_engine(platform.env["DATABASE_URL"])
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO monitoring.alert_channels (id, owner_id, kind, name, target) "
                        "VALUES (:id, :owner, 'email', 'on-call mail', :email)"
                    ),
                    {"id": channel_id, "owner": owner_id, "email": ADMIN_EMAIL},
                )
        finally:
            await engine.dispose()

    asyncio.run(insert())
    return channel_id


def _queue(edge, token: str) -> dict | None:
    r = edge.get(API, headers=bearer(token))
    assert r.status_code == 200, r.text
    return next((q for q in r.json()["queues"] if q["name"] == QUEUE), None)


def _publish_noop_tasks(platform: Platform, count: int) -> None:
    """Tasks for the auth queue that do nothing when run: events nobody handles."""
    with Connection(platform.env["BROKER_URL"]) as conn, conn.channel() as channel:
        producer = Producer(channel)
        for _ in range(count):
            event = {"event_id": str(uuid.uuid4()), "key": "test.queue.filled", "payload": {}}
            message = task_message(EVENT_TASK, queue=QUEUE, kwargs={"event": event})
            producer.publish(
                message.body,
                exchange=Exchange(QUEUE, type="topic", durable=True),
                routing_key=QUEUE,
                headers=message.headers,
                content_type="application/json",
                content_encoding="utf-8",
                serializer=None,
                delivery_mode=2,
            )


def _notifications(platform: Platform, channel_id: str) -> list[tuple]:
    """(alert kind, event, dedupe key, subject kind) of each notification owed to the channel."""
    return sql(
        platform,
        "SELECT a.kind, n.event, n.dedupe_key, n.subject_kind FROM monitoring.notifications n "
        "JOIN monitoring.queue_alerts a ON a.id = n.subject_id "
        "WHERE n.channel_id = :c ORDER BY n.created_at",
        c=channel_id,
    )


def test_a_stopped_worker_fills_the_queue_and_the_oldest_message_alert_fires_once(
    platform, queue_pages, edge, admin_token, admin_web, request
):
    def restore() -> None:
        # whatever this test saw, the later tests get the auth worker back
        worker = platform.processes.get(f"{QUEUE}-worker")
        if worker is None or worker.proc is None or worker.proc.poll() is not None:
            platform.start_worker(QUEUE)

    request.addfinalizer(restore)
    me = edge.get("/api/auth/v1/me", headers=bearer(admin_token)).json()
    channel_id = _seed_channel(platform, me["id"])
    wait_until(lambda: (_queue(edge, admin_token) or {}).get("consumers", 0) >= 1, 30, "sampled")
    r = edge.put(
        f"{API}/{QUEUE}/threshold",
        headers=bearer(admin_token),
        json={
            "oldest_age_seconds": OLDEST_AGE_LIMIT,
            "no_consumers_seconds": NO_CONSUMERS_LIMIT,
            "channel_ids": [channel_id],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["oldest_age_seconds"] == OLDEST_AGE_LIMIT

    platform.processes[f"{QUEUE}-worker"].stop()
    _publish_noop_tasks(platform, 5)
    # filling: the five wait, nobody consumes, the head gets older with each sample
    wait_until(
        lambda: (
            (q := _queue(edge, admin_token)) is not None
            and q["ready"] >= 5
            and q["consumers"] == 0
            and (q["oldest_age_seconds"] or 0) > OLDEST_AGE_LIMIT
        ),
        40,
        "the queue filling and its oldest message ageing",
    )
    wait_until(
        lambda: set(_queue(edge, admin_token)["open_alerts"]) == {"oldest_age", "no_consumers"},
        10,
        "both alerts open",
    )
    # the pages show it: the list's row and the queue's own page with its charts
    row = _page_row(admin_web)
    assert "oldest age" in row and "no consumers" in row and "data-consumers>0<" in row, row
    page = admin_web.get(f"/ops/queues/{QUEUE}")
    assert page.status_code == 200 and 'data-chart-name="depth"' in page.text
    assert 'data-chart-name="age"' in page.text and 'data-chart-name="rates"' in page.text
    assert "threshold-form" in page.text and "on-call mail" in page.text
    time.sleep(5)  # more samples past the threshold: still one alert
    rows = _notifications(platform, channel_id)
    assert sorted((kind, event, subject) for kind, event, _, subject in rows) == [
        ("no_consumers", "queue_breach", "queue"),
        ("oldest_age", "queue_breach", "queue"),
    ], rows

    platform.start_worker(QUEUE)
    wait_until(
        lambda: (q := _queue(edge, admin_token))["ready"] == 0 and not q["open_alerts"],
        40,
        "the queue draining after the restart",
    )
    # the chart's points (the peak of each 10 s of the last hour) come down to 0 as well
    wait_until(
        lambda: (
            edge.get(f"{API}/{QUEUE}", headers=bearer(admin_token)).json()["series"][-1]["ready"]
            == 0
        ),
        30,
        "the chart showing the drained queue",
    )
    detail = edge.get(f"{API}/{QUEUE}", headers=bearer(admin_token)).json()
    readies = [p["ready"] for p in detail["series"]]
    peak = readies.index(max(readies))
    assert max(readies) >= 5 and readies[-1] == 0 and peak < len(readies) - 1, readies
    ages = [p["oldest_age_seconds"] or 0 for p in detail["series"]]
    assert max(ages) > OLDEST_AGE_LIMIT, ages
    [alert] = [a for a in detail["alerts"] if a["kind"] == "oldest_age"]
    assert alert["closed_at"] is not None
    rows = _notifications(platform, channel_id)
    oldest = [(event, key) for kind, event, key, _ in rows if kind == "oldest_age"]
    assert [event for event, _ in oldest] == ["queue_breach", "queue_recovered"], rows
    assert all(alert["id"] in key for _, key in oldest), oldest
    consumers = [event for kind, event, _, _ in rows if kind == "no_consumers"]
    assert consumers == ["queue_breach", "queue_recovered"], rows
    # the restarted worker is a deploy marker and is online; the no-op tasks were received
    wait_until(
        lambda: any(
            w["online"]
            for w in edge.get(f"{API}/{QUEUE}", headers=bearer(admin_token)).json()["workers"]
        ),
        20,
        "the worker online again",
    )
    detail = edge.get(f"{API}/{QUEUE}", headers=bearer(admin_token)).json()
    assert detail["deploy_markers"], detail
    row = _page_row(admin_web)
    assert "data-ready>0<" in row and "oldest age" not in row, row
    page = admin_web.get(f"/ops/queues/{QUEUE}?window=24h").text
    assert "came online" in page and "recovered" in page and EVENT_TASK in page
    assert any(t["task"] == EVENT_TASK and t["received"] >= 5 for t in detail["tasks"]), detail


def test_the_threshold_form_saves_and_refuses_bad_values(queue_pages, edge, admin_web):
    path = f"/ops/partials/queues/{QUEUE}/threshold"
    page = f"/ops/queues/{QUEUE}"
    r = admin_web.htmx_post(path, {"oldest_age_seconds": "600"}, page=page)
    assert r.status_code == 200 and f"Thresholds of {QUEUE} saved." in r.text, r.text[:500]
    assert 'name="oldest_age_seconds" type="number" min="1" max="604800" value="600"' in r.text
    r = admin_web.htmx_post(path, {"oldest_age_seconds": "soon"}, page=page)
    assert r.status_code == 200 and "A whole number of seconds" in r.text, r.text[:500]
    admin = password_login(edge, ADMIN_EMAIL, ADMIN_PASSWORD).json()["access_token"]
    threshold = edge.get(f"{API}/{QUEUE}", headers=bearer(admin)).json()["threshold"]
    assert threshold["oldest_age_seconds"] == 600 and threshold["no_consumers_seconds"] is None


def test_queue_pages_are_for_oncall_and_admin_only(platform, queue_pages, edge, register_verified):
    email = register_verified()
    token = password_login(edge, email, PASSWORD).json()["access_token"]
    r = edge.get(API, headers=bearer(token))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
    r = edge.put(f"{API}/{QUEUE}/threshold", headers=bearer(token), json={})
    assert r.status_code == 403, r.text
    # the service checks the role itself too, not only the gateway
    r = __import__("httpx").get(platform.url("monitoring") + API, headers=bearer(token))
    assert r.status_code == 403, r.text
    assert edge.get(API).status_code == 401
    # the pages: the gateway refuses /ops for a person without the role, before the frontend
    with WebClient(platform.public_url) as web:
        web.login(email, PASSWORD)
        assert web.get("/ops/queues").status_code == 403
        assert web.get(f"/ops/queues/{QUEUE}").status_code == 403
        assert web.get(f"/ops/flower/{QUEUE}/").status_code == 403
    # bad input is a 4xx in the common shape, never a 500
    admin = password_login(edge, ADMIN_EMAIL, ADMIN_PASSWORD).json()["access_token"]
    r = edge.put(f"{API}/{QUEUE}/threshold", headers=bearer(admin), json={"oldest_age_seconds": 0})
    assert r.status_code == 422 and "error" in r.json(), r.text
    r = edge.put(
        f"{API}/{QUEUE}/threshold",
        headers=bearer(admin),
        json={"channel_ids": [str(uuid.uuid4())]},
    )
    assert r.status_code == 422, r.text
    r = edge.get(f"{API}/no.such.queue", headers=bearer(admin))
    assert r.status_code == 404, r.text
    r = edge.get(f"{API}/{QUEUE}?window=5y", headers=bearer(admin))
    assert r.status_code == 422, r.text
    assert json.loads(r.text)["error"]
