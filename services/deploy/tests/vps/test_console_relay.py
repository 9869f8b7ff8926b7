"""The VPS console in-process: console tokens, the WebSocket relay to a real pty-backed
stand-in console (vps_console_kit.py), the Origin check, replay on reconnect, closing when the
VPS is suspended, stopped or deleted, and the audit admins read."""

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, update
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from vps_console_kit import StandInConsole

from berth_deploy.config import DeploySettings
from berth_deploy.vps.console.models import VpsConsoleToken
from berth_deploy.vps.models import Vps, VpsOperation
from berth_testing.plugin import trust_keys

API = "/api/deploy/v1"


@pytest.fixture(scope="module")
def console_settings(deploy_settings: DeploySettings) -> DeploySettings:
    return deploy_settings.model_copy(update={"console_watch_seconds": 0.2})


@pytest.fixture(scope="module")
def client(console_settings: DeploySettings, public_jwks: dict[str, Any]) -> Iterator[TestClient]:
    from berth_deploy.main import create_app

    app = create_app(console_settings)
    with TestClient(app) as c:
        trust_keys(app, public_jwks)
        yield c


@pytest.fixture
def stand_in(tmp_path: Path, client: TestClient) -> Iterator[StandInConsole]:
    console = StandInConsole(tmp_path)
    client.app.state.console_locator = console.locate
    yield console
    console.close()


def _db(client: TestClient, work) -> Any:
    async def run():
        async with client.app.state.db.sessionmaker() as session:
            result = await work(session)
            await session.commit()
            return result

    return client.portal.call(run)


def make_vps(client: TestClient, owner: uuid.UUID, status: str = "running") -> uuid.UUID:
    async def work(session):
        vps = Vps(
            owner_id=owner,
            name=f"box-{uuid.uuid4().hex[:8]}",
            plan="vps-1",
            billing_plan_key="vps-1",
            kind="kvm",
            status=status,
            vcpus=1,
            memory_mb=1024,
            disk_gb=10,
            ssh_public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG2T9ZL0hQfGQWJxv9U4W4rYx8Y8jQ5cU9l2k1y0j5Fv t@x",
            node="test-node",
        )
        session.add(vps)
        await session.flush()
        return vps.id

    return _db(client, work)


def set_vps(client: TestClient, vps_id: uuid.UUID, **values: Any) -> None:
    _db(client, lambda s: s.execute(update(Vps).where(Vps.id == vps_id).values(**values)))


def mint(client: TestClient, vps_id: uuid.UUID, who) -> dict:
    r = client.post(f"{API}/vps/{vps_id}/console-tokens", headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


def origin(client: TestClient) -> str:
    return client.app.state.settings.public_url.rstrip("/")


def connect(client: TestClient, vps_id: uuid.UUID, token: str, who, **headers: str):
    return client.websocket_connect(
        f"{API}/vps/{vps_id}/console?token={token}",
        headers={"origin": origin(client), **who.headers, **headers},
    )


def read_until(ws, needle: bytes, limit: int = 500) -> bytes:
    """Console bytes until `needle` shows (control frames skipped); fails if it closes first."""
    seen = b""
    for _ in range(limit):
        message = ws.receive()
        if message["type"] == "websocket.close":
            raise AssertionError(f"closed {message.get('code')} before {needle!r}: {seen[-300:]!r}")
        if message.get("bytes"):
            seen += message["bytes"]
            if needle in seen:
                return seen
    raise AssertionError(f"{needle!r} never came: {seen[-300:]!r}")


def close_code(ws, limit: int = 500) -> int:
    """Read on until the server closes; its close code."""
    for _ in range(limit):
        message = ws.receive()
        if message["type"] == "websocket.close":
            return message["code"]
    raise AssertionError("the console never closed")


def test_a_token_opens_the_console_once_and_keystrokes_round_trip(client, stand_in, person):
    owner = person()
    vps = make_vps(client, owner.id)
    minted = mint(client, vps, owner)
    assert minted["token"].startswith("bvc_")
    assert minted["url"].endswith(f"/api/deploy/v1/vps/{vps}/console?token={minted['token']}")
    with connect(client, vps, minted["token"], owner) as ws:
        hello = ws.receive_json()
        assert hello == {"type": "hello", "session_id": hello["session_id"], "vps_id": str(vps)}
        ws.send_bytes(b"echo round-$((6*7))-trip\n")
        assert b"round-42-trip" in read_until(ws, b"round-42-trip")
        ws.send_text('{"type": "input", "data": "echo text-$((2+3))\\n"}')
        read_until(ws, b"text-5")
    # the same token again: refused, and says why
    with connect(client, vps, minted["token"], owner) as ws:
        assert close_code(ws) == 4403
    # only its hash is kept
    rows = _db(client, lambda s: s.execute(VpsConsoleToken.__table__.select()))
    assert all(minted["token"] not in str(tuple(r)) for r in rows)


def test_a_foreign_origin_is_refused_before_the_upgrade(client, stand_in, person):
    owner = person()
    vps = make_vps(client, owner.id)
    token = mint(client, vps, owner)["token"]
    with pytest.raises(WebSocketDisconnect):
        with connect(client, vps, token, owner, origin="https://evil.example"):
            pass
    # no Origin and only a cookie: not a browser's request, refused too
    cookie = {"cookie": f"{client.app.state.settings.access_cookie}=x"}
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect(f"{API}/vps/{vps}/console?token={token}", headers=cookie):
            pass
    # the token was not spent by the refused attempts
    with connect(client, vps, token, owner) as ws:
        assert ws.receive_json()["type"] == "hello"


def test_an_expired_token_is_refused(client, stand_in, person):
    owner = person()
    vps = make_vps(client, owner.id)
    token = mint(client, vps, owner)["token"]
    _db(
        client,
        lambda s: s.execute(
            update(VpsConsoleToken)
            .where(VpsConsoleToken.vps_id == vps)
            .values(expires_at=VpsConsoleToken.created_at)
        ),
    )
    with connect(client, vps, token, owner) as ws:
        assert close_code(ws) == 4403


def test_a_refresh_replays_the_screen(client, stand_in, person):
    owner = person()
    vps = make_vps(client, owner.id)
    with connect(client, vps, mint(client, vps, owner)["token"], owner) as ws:
        ws.receive_json()
        ws.send_bytes(b"echo before-$((40+2))-refresh\n")
        read_until(ws, b"before-42-refresh")
    with connect(client, vps, mint(client, vps, owner)["token"], owner) as ws:
        assert ws.receive_json()["type"] == "hello"
        replayed = ws.receive_bytes()  # the log's tail, before anything new is typed
        assert b"before-42-refresh" in replayed


@pytest.mark.parametrize(
    ("values", "code", "reason"),
    [
        ({"status": "suspended", "suspended_by": "billing"}, 4423, "suspended"),
        ({"status": "stopped"}, 4409, "stopped"),
        ({"status": "deleted"}, 4404, "deleted"),
    ],
)
def test_an_open_console_closes_when_the_vps_stops_being_usable(
    client, stand_in, person, values, code, reason
):
    owner, admin = person(), person(["user", "admin"])
    vps = make_vps(client, owner.id)
    with connect(client, vps, mint(client, vps, owner)["token"], owner) as ws:
        session_id = ws.receive_json()["session_id"]
        set_vps(client, vps, **values)
        assert close_code(ws) == code
    r = client.get(
        f"{API}/admin/vps/console-sessions", params={"vps_id": str(vps)}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    [row] = r.json()["items"]
    assert row["id"] == session_id and row["user_id"] == str(owner.id)
    assert row["close_reason"] == reason and row["close_code"] == code
    assert row["closed_at"] is not None and row["duration_seconds"] >= 0


def test_an_open_console_closes_the_moment_a_suspend_is_asked_for(client, stand_in, person):
    """A queued suspend closes the console 4423 while the machine still runs (the operation
    that stops it records the suspension only once it is down)."""
    owner = person()
    vps = make_vps(client, owner.id)
    with connect(client, vps, mint(client, vps, owner)["token"], owner) as ws:
        ws.receive_json()
        _db(client, lambda s: _add(s, VpsOperation(vps_id=vps, kind="suspend", origin="admin")))
        assert close_code(ws) == 4423


async def _add(session, row) -> None:
    session.add(row)


def test_an_open_console_closes_when_its_owner_changes(client, stand_in, person):
    owner, other = person(), person()
    vps = make_vps(client, owner.id)
    with connect(client, vps, mint(client, vps, owner)["token"], owner) as ws:
        ws.receive_json()
        set_vps(client, vps, owner_id=other.id)
        assert close_code(ws) == 4403


def test_no_console_for_a_vps_that_does_not_run(client, stand_in, person):
    owner = person()
    for status in ("stopped", "suspended", "creating"):
        vps = make_vps(client, owner.id, status)
        r = client.post(f"{API}/vps/{vps}/console-tokens", headers=owner.headers)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "console_unavailable"


def test_another_person_can_neither_mint_nor_use_a_console(client, stand_in, person):
    owner, intruder = person(), person()
    vps = make_vps(client, owner.id)
    r = client.post(f"{API}/vps/{vps}/console-tokens", headers=intruder.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "vps_not_found"
    r = client.post(f"{API}/vps/{uuid.uuid4()}/console-tokens", headers=owner.headers)
    assert r.status_code == 404
    token = mint(client, vps, owner)["token"]
    # the owner's token in someone else's hands does not open it (and is not spent by them)
    with connect(client, vps, token, intruder) as ws:
        assert close_code(ws) == 4403
    # nor on another VPS of the intruder's
    theirs = make_vps(client, intruder.id)
    with connect(client, theirs, token, intruder) as ws:
        assert close_code(ws) == 4403
    with connect(client, vps, token, owner) as ws:
        assert ws.receive_json()["type"] == "hello"
    # without a signed-in person the socket is closed 4401
    with client.websocket_connect(
        f"{API}/vps/{vps}/console?token={token}", headers={"origin": origin(client)}
    ) as ws:
        assert close_code(ws) == 4401
    # the audit is for admins only
    r = client.get(f"{API}/admin/vps/console-sessions", headers=owner.headers)
    assert r.status_code == 403


def test_bad_inputs_are_4xx(client, person):
    owner = person()
    r = client.post(f"{API}/vps/not-a-uuid/console-tokens", headers=owner.headers)
    assert r.status_code == 422
    admin = person(["user", "admin"])
    r = client.get(
        f"{API}/admin/vps/console-sessions", params={"vps_id": "x"}, headers=admin.headers
    )
    assert r.status_code == 422
    r = client.get(
        f"{API}/admin/vps/console-sessions", params={"size": 1000}, headers=admin.headers
    )
    assert r.status_code == 422
    with client.websocket_connect(
        f"{API}/vps/not-a-uuid/console?token=bvc_x",
        headers={"origin": origin(client), **owner.headers},
    ) as ws:
        assert close_code(ws) == 4404


def test_pings_and_a_silent_browser_is_closed(client, stand_in, person, console_settings):
    owner = person()
    vps = make_vps(client, owner.id)
    quick = console_settings.model_copy(
        update={"console_ping_seconds": 0.5, "console_ping_timeout_seconds": 1.0}
    )
    client.app.state.settings = quick
    try:
        with connect(client, vps, mint(client, vps, owner)["token"], owner) as ws:
            assert ws.receive_json()["type"] == "hello"
            pings = 0
            while True:
                message = ws.receive()
                if message["type"] == "websocket.close":
                    assert message["code"] == 4408
                    break
                if message.get("text") and '"ping"' in message["text"]:
                    pings += 1
            assert pings >= 1
    finally:
        client.app.state.settings = console_settings
    _db(client, lambda s: s.execute(delete(VpsConsoleToken).where(VpsConsoleToken.vps_id == vps)))


def test_a_console_that_does_not_answer_closes_1011_and_is_audited(client, person, tmp_path):
    owner, admin = person(), person(["user", "admin"])
    vps = make_vps(client, owner.id)
    client.app.state.console_locator = lambda _id: (tmp_path / "nothing.sock", tmp_path / "log")
    with connect(client, vps, mint(client, vps, owner)["token"], owner) as ws:
        assert close_code(ws) == 1011
    r = client.get(
        f"{API}/admin/vps/console-sessions", params={"vps_id": str(vps)}, headers=admin.headers
    )
    [row] = r.json()["items"]
    assert row["close_reason"] == "console_unavailable"


async def test_the_output_throttle_holds_a_flood_to_its_rate():
    """A flood of 3 s worth of output is made to wait about 2 s (the first second is the
    burst): the waits it asks for are counted on a fake clock, nothing is timed."""
    from berth_deploy.vps.console import relay

    clock = {"now": 1000.0}
    waited: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waited.append(seconds)
        clock["now"] += seconds

    # the throttle's own clock and sleep (patching time.monotonic would stop the event loop's
    # clock too, and hang every other task on the test session's loop)
    throttle = relay.OutputThrottle(rate=64 * 1024, clock=lambda: clock["now"], sleep=fake_sleep)
    for _ in range(12):  # 12 chunks of 16 KiB: three times the rate
        await throttle.take(16 * 1024)
    assert sum(waited) == pytest.approx(2.0, rel=0.01)


def test_old_tokens_are_purged_and_fresh_ones_kept(client, person):
    from datetime import timedelta

    from sqlalchemy import func, select

    from berth_deploy.vps.console import service

    owner = person()
    vps = make_vps(client, owner.id)
    mint(client, vps, owner)
    mint(client, vps, owner)
    _db(
        client,
        lambda s: s.execute(
            update(VpsConsoleToken)
            .where(
                VpsConsoleToken.id
                == select(VpsConsoleToken.id)
                .where(VpsConsoleToken.vps_id == vps)
                .limit(1)
                .scalar_subquery()
            )
            .values(expires_at=func.now() - timedelta(days=2))
        ),
    )
    purged = _db(client, lambda s: service.purge_tokens(s, timedelta(days=1)))
    assert purged >= 1
    left = _db(
        client,
        lambda s: s.scalar(select(func.count()).where(VpsConsoleToken.vps_id == vps)),
    )
    assert left == 1
