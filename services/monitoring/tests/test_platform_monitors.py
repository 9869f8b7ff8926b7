"""The platform's monitors of apps follow deploy's and billing's events: made when an app
starts, muted while a deploy runs (plus a tail), suppressed when the owner stops the app or
billing suspends the account, removed with the app; events may come twice or out of order."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fixtures_monitors import API
from sqlalchemy import select

from berth_monitoring.models import Monitor
from berth_monitoring.platform import service as platform

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


class App:
    def __init__(self, owner_id: uuid.UUID | None = None, process_type: str = "web"):
        self.id = uuid.uuid4()
        self.owner_id = owner_id or uuid.uuid4()
        self.process_type = process_type
        self.instance_id = uuid.uuid4()

    def started(self, when: float, **extra):
        web = self.process_type == "web"
        return {
            "instance_id": str(self.instance_id),
            "app_id": str(self.id),
            "app_slug": "shop",
            "app_name": "My shop",
            "owner_id": str(self.owner_id),
            "plan_key": "basic",
            "started_at": at(when),
            "release_id": str(uuid.uuid4()),
            "process_type": self.process_type,
            "hostname": "shop.apps.localhost" if web else None,
            "health": {
                "type": "http" if web else "process",
                "path": "/healthz" if web else None,
                "method": "GET" if web else None,
                "timeout_seconds": 5,
            },
            **extra,
        }

    def ended(self, when: float, reason: str | None = "stopped by user", instance=None):
        payload = {
            "instance_id": str(instance or self.instance_id),
            "app_id": str(self.id),
            "owner_id": str(self.owner_id),
            "plan_key": "basic",
            "stopped_at": at(when),
        }
        if reason is not None:
            payload["reason"] = reason
        return payload

    def operation(self, op_id: uuid.UUID, when: float, finished: bool = False):
        payload = {
            "operation_id": str(op_id),
            "app_id": str(self.id),
            "app_slug": "shop",
            "owner_id": str(self.owner_id),
            "kind": "deploy",
            "origin": "user",
        }
        if finished:
            payload.update(outcome="succeeded", reason=None, finished_at=at(when))
        else:
            payload.update(release_id=None, started_at=at(when))
        return payload


@pytest.fixture
def event(monitoring_db, monitoring_settings):
    async def send(key: str, payload: dict) -> None:
        async with monitoring_db() as session, session.begin():
            await platform.handle(session, monitoring_settings, key, payload)

    return send


@pytest.fixture
def monitors_of(monitoring_db):
    async def read(app: App) -> list[Monitor]:
        async with monitoring_db() as session:
            rows = await session.execute(select(Monitor).where(Monitor.app_id == app.id))
            return list(rows.scalars())

    return read


async def test_a_web_app_gets_an_http_monitor_of_its_health_path(event, monitors_of):
    app = App()
    await event("deploy.instance.started", app.started(0))
    (monitor,) = await monitors_of(app)
    assert (monitor.kind, monitor.url, monitor.host) == (
        "app_http",
        "/healthz",
        "shop.apps.localhost",
    )
    assert monitor.owner_id == app.owner_id and monitor.name == "My shop"
    assert monitor.suppressed is None and monitor.http["method"] == "GET"
    # a second start (a new release) updates the same monitor
    app.instance_id = uuid.uuid4()
    await event("deploy.instance.started", app.started(60, health={"type": "http", "path": "/up"}))
    (again,) = await monitors_of(app)
    assert again.id == monitor.id and again.url == "/up"


async def test_a_worker_gets_a_process_monitor(event, monitors_of):
    app = App(process_type="worker")
    await event("deploy.instance.started", app.started(0))
    (monitor,) = await monitors_of(app)
    assert monitor.kind == "app_process" and monitor.url is None and monitor.host is None


async def test_payloads_without_the_needed_keys_are_skipped(event, monitors_of):
    app = App()
    old_shape = app.started(0)
    for key in ("process_type", "hostname", "health", "release_id", "app_name"):
        old_shape.pop(key)
    await event("deploy.instance.started", old_shape)
    await event("deploy.instance.started", {"app_id": "nope"})
    await event("deploy.instance.stopped", {})
    await event("deploy.operation.started", {"app_id": str(app.id)})
    await event("billing.account.suspended", {"owner_id": 7})
    assert await monitors_of(app) == []


async def test_owner_stop_suppresses_and_a_start_lifts_it(event, monitors_of):
    app = App()
    await event("deploy.instance.started", app.started(0))
    await event("deploy.instance.stopped", app.ended(100, "stopped by user"))
    (monitor,) = await monitors_of(app)
    assert monitor.suppressed == "app_stopped"
    app.instance_id = uuid.uuid4()
    await event("deploy.instance.started", app.started(200))
    (monitor,) = await monitors_of(app)
    assert monitor.suppressed is None


async def test_a_crash_loop_is_not_suppressed(event, monitors_of):
    app = App()
    await event("deploy.instance.started", app.started(0))
    await event("deploy.instance.stopped", app.ended(100, "crash_loop"))
    (monitor,) = await monitors_of(app)
    assert monitor.suppressed is None  # the app is down for real: it must page


async def test_a_replaced_instance_ending_leaves_the_new_one_watched(event, monitors_of):
    app = App()
    old = app.instance_id
    await event("deploy.instance.started", app.started(0))
    app.instance_id = uuid.uuid4()
    await event("deploy.instance.started", app.started(100))
    await event("deploy.instance.stopped", app.ended(110, "stopped by user", instance=old))
    (monitor,) = await monitors_of(app)
    assert monitor.suppressed is None


async def test_events_out_of_order_keep_the_newest_word(event, monitors_of):
    app = App()
    # the stop (t=100) arrives before the start (t=0) it ends
    await event("deploy.instance.started", app.started(0))
    await event("deploy.instance.stopped", app.ended(100, "stopped by user"))
    await event("deploy.instance.started", app.started(0))  # a redelivered older start
    (monitor,) = await monitors_of(app)
    assert monitor.suppressed == "app_stopped"


async def test_a_deploy_mutes_until_its_end_plus_the_tail(event, monitors_of, monitoring_settings):
    app = App()
    now = (datetime.now(UTC) - T0).total_seconds()
    await event("deploy.instance.started", app.started(now - 600))
    op = uuid.uuid4()
    await event("deploy.operation.started", app.operation(op, now - 5))
    (monitor,) = await monitors_of(app)
    assert monitor.mute_reason == "deploy"
    assert monitor.muted_until > datetime.now(UTC) + timedelta(hours=1)  # until the deploy ends
    assert monitor.suppressed is None  # still checked: results are stored
    await event("deploy.operation.finished", app.operation(op, now, finished=True))
    (monitor,) = await monitors_of(app)
    tail = timedelta(seconds=monitoring_settings.deploy_mute_tail_seconds)
    assert monitor.muted_until == T0 + timedelta(seconds=now) + tail


async def test_a_deploy_finished_before_its_start_arrives_does_not_mute_forever(
    event, monitors_of, monitoring_settings
):
    app = App()
    now = (datetime.now(UTC) - T0).total_seconds()
    op = uuid.uuid4()
    await event("deploy.operation.finished", app.operation(op, now, finished=True))
    await event("deploy.operation.started", app.operation(op, now - 30))
    # the first deploy's instance starts after its operation began: its monitor is born muted
    await event("deploy.instance.started", app.started(now - 10))
    (monitor,) = await monitors_of(app)
    tail = timedelta(seconds=monitoring_settings.deploy_mute_tail_seconds)
    assert monitor.muted_until == T0 + timedelta(seconds=now) + tail


async def test_a_first_deploy_in_progress_mutes_the_new_monitor(event, monitors_of):
    app = App()
    now = (datetime.now(UTC) - T0).total_seconds()
    await event("deploy.operation.started", app.operation(uuid.uuid4(), now - 30))
    await event("deploy.instance.started", app.started(now - 5))
    (monitor,) = await monitors_of(app)
    assert monitor.mute_reason == "deploy" and monitor.muted_until > datetime.now(UTC)


async def test_billing_suspension_suppresses_every_app_of_the_owner(event, monitors_of):
    owner = uuid.uuid4()
    web, worker = App(owner), App(owner, "worker")
    for app in (web, worker):
        await event("deploy.instance.started", app.started(0))
    await event(
        "billing.account.suspended",
        {"owner_id": str(owner), "reason": "billing", "suspended_at": at(100)},
    )
    for app in (web, worker):
        assert [m.suppressed for m in await monitors_of(app)] == ["app_suspended"]
    # deploy suspends the web app's instance; the worker's suspension has not arrived yet
    await event("deploy.instance.suspended", web.ended(110, "billing"))
    await event("billing.account.unsuspended", {"owner_id": str(owner), "unsuspended_at": at(200)})
    # the worker still runs: watched again; the web app waits for its next start
    assert [m.suppressed for m in await monitors_of(worker)] == [None]
    assert [m.suppressed for m in await monitors_of(web)] == ["app_suspended"]
    web.instance_id = uuid.uuid4()
    await event("deploy.instance.started", web.started(300))
    assert [m.suppressed for m in await monitors_of(web)] == [None]


async def test_an_older_unsuspension_does_not_undo_a_newer_suspension(event, monitors_of):
    app = App()
    await event("deploy.instance.started", app.started(0))
    await event(
        "billing.account.suspended", {"owner_id": str(app.owner_id), "suspended_at": at(500)}
    )
    await event(
        "billing.account.unsuspended", {"owner_id": str(app.owner_id), "unsuspended_at": at(400)}
    )
    assert [m.suppressed for m in await monitors_of(app)] == ["app_suspended"]


async def test_deleting_the_app_removes_its_monitors_for_good(event, monitors_of):
    app = App()
    await event("deploy.instance.started", app.started(0))
    await event("deploy.instance.deleted", app.ended(100, None))
    assert await monitors_of(app) == []
    await event("deploy.instance.started", app.started(50))  # a late start: still gone
    assert await monitors_of(app) == []


async def test_users_cannot_retarget_or_delete_managed_monitors(
    event, monitors_of, monitoring_http, person
):
    owner = person()
    app = App(owner.id)
    await event("deploy.instance.started", app.started(0))
    (monitor,) = await monitors_of(app)
    url = f"{API}/monitors/{monitor.id}"
    r = await monitoring_http.get(url, headers=owner.headers)
    assert r.status_code == 200 and r.json()["managed"] is True
    r = await monitoring_http.patch(url, json={"url": "/other"}, headers=owner.headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "managed_monitor"
    r = await monitoring_http.patch(url, json={"interval_seconds": 30}, headers=owner.headers)
    assert r.status_code == 409
    r = await monitoring_http.delete(url, headers=owner.headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "managed_monitor"
    r = await monitoring_http.patch(
        url, json={"name": "Shop front", "failure_threshold": 4}, headers=owner.headers
    )
    assert r.status_code == 200 and r.json()["name"] == "Shop front"
    # a later start keeps the user's name and thresholds
    app.instance_id = uuid.uuid4()
    await event("deploy.instance.started", app.started(100))
    (monitor,) = await monitors_of(app)
    assert (monitor.name, monitor.failure_threshold) == ("Shop front", 4)
    # platform monitors do not count to the user's quota
    r = await monitoring_http.get(
        f"{API}/monitors", params={"managed": True}, headers=owner.headers
    )
    assert r.json()["total"] == 1
