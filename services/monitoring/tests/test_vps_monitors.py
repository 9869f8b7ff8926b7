"""VPSes are watched like apps: deploy's instance events of a VPS (process_type "vps", app_id
null, vps_id set) make a `vps` monitor of its SSH port, suppressed when its owner stops it and
removed with it; its check needs SSH's banner and deploy's word that the machine runs."""

import asyncio
import json
import uuid
from datetime import UTC, datetime

from fixtures_checks import Reply
from sqlalchemy import select
from test_platform_monitors import at

from berth_monitoring.enums import ErrorKind, MonitorKind, Suppression
from berth_monitoring.models import Monitor
from berth_monitoring.platform import service as platform


def vps_started(vps_id, owner_id, boot_id, port: int) -> dict:
    return {
        "instance_id": str(boot_id),
        "app_id": None,
        "vps_id": str(vps_id),
        "vps_name": "web-box",
        "app_slug": "web-box",
        "app_name": "web-box",
        "owner_id": str(owner_id),
        "plan_key": "vps-1",
        "started_at": at(0),
        "release_id": None,
        "process_type": "vps",
        "hostname": None,
        "health": {"type": "tcp", "timeout_seconds": 5},
        "ssh": {"host": "127.0.0.1", "port": port},
    }


def vps_ended(vps_id, owner_id, boot_id, when: float, reason: str | None) -> dict:
    payload = {
        "instance_id": str(boot_id),
        "app_id": None,
        "vps_id": str(vps_id),
        "owner_id": str(owner_id),
        "plan_key": "vps-1",
        "stopped_at": at(when),
    }
    if reason is not None:
        payload["reason"] = reason
    return payload


async def test_a_vps_gets_a_monitor_of_its_ssh_port(monitoring_db, monitoring_settings):
    vps_id, owner_id, boot = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    async def send(key: str, payload: dict) -> None:
        async with monitoring_db() as session, session.begin():
            await platform.handle(session, monitoring_settings, key, payload)

    async def monitors() -> list[Monitor]:
        async with monitoring_db() as session:
            rows = await session.execute(select(Monitor).where(Monitor.app_id == vps_id))
            return list(rows.scalars())

    await send("deploy.instance.started", vps_started(vps_id, owner_id, boot, 22022))
    (monitor,) = await monitors()
    assert (monitor.kind, monitor.host, monitor.port, monitor.url) == (
        "vps",
        "127.0.0.1",
        22022,
        None,
    )
    assert (monitor.owner_id, monitor.name, monitor.suppressed) == (owner_id, "web-box", None)

    await send("deploy.instance.stopped", vps_ended(vps_id, owner_id, boot, 60, "stopped by user"))
    (stopped,) = await monitors()
    assert stopped.suppressed == Suppression.APP_STOPPED

    await send("deploy.instance.deleted", vps_ended(vps_id, owner_id, boot, 120, None))
    assert await monitors() == []


async def test_a_vps_check_needs_the_ssh_banner_and_a_running_machine(
    checker, target_server, checks_settings
):
    async def ssh(reader, writer):
        writer.write(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
        await writer.drain()
        writer.close()

    async def silent(reader, writer):  # accepts (like a port forward to a booting guest)
        await reader.read()
        writer.close()

    answering = await asyncio.start_server(ssh, "127.0.0.1", 0)
    mute = await asyncio.start_server(silent, "127.0.0.1", 0)
    ssh_port = answering.sockets[0].getsockname()[1]
    mute_port = mute.sockets[0].getsockname()[1]
    up, paused, no_ssh = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    body = {
        "items": [
            {"vps_id": str(up), "state": "running"},
            {"vps_id": str(paused), "state": "paused"},
            {"vps_id": str(no_ssh), "state": "running"},
        ],
        "checked_at": datetime.now(UTC).isoformat(),
    }
    prefix = f"/fake-{uuid.uuid4().hex[:6]}"
    target_server.replies[f"{prefix}/oauth/token"] = Reply(
        200,
        b'{"access_token": "machine-token", "expires_in": 300}',
        content_type="application/json",
    )
    target_server.replies[f"{prefix}/api/deploy/v1/liveness/vps"] = Reply(
        200, json.dumps(body).encode(), content_type="application/json"
    )
    ids = [
        await checker.monitor(
            kind=MonitorKind.VPS, url=None, host="127.0.0.1", port=port, app_id=vps,
            failure_threshold=1, timeout_seconds=1.0,
        )
        for vps, port in ((up, ssh_port), (paused, ssh_port), (no_ssh, mute_port))
    ]  # fmt: skip
    fake = f"http://127.0.0.2:{target_server.port}{prefix}"
    saved = checks_settings.deploy_url, checks_settings.auth_url
    checks_settings.deploy_url = checks_settings.auth_url = fake
    try:
        await checker.tick(*ids)
    finally:
        checks_settings.deploy_url, checks_settings.auth_url = saved
        answering.close()
        mute.close()
    first, second, third = [await checker.get(i) for i in ids]
    assert first.last_ok is True, first.last_error
    assert second.last_error_kind == ErrorKind.PROCESS_DOWN and "paused" in second.last_error
    # a port that accepts but never speaks SSH (the forward of a guest still booting) is down
    assert third.last_ok is False and third.last_error_kind == ErrorKind.TIMEOUT
