"""The VPS console end to end, through Traefik and the gateway: console tokens minted over
the API, the WebSocket through Traefik's deploy-vps-console route (forwardAuth on the
upgrade), the Origin check, single use, another person refused, a real VPS's serial console
(KVM where /dev/kvm works, else the container fallback) answering keystrokes, the screen
replayed after a reconnect, suspension closing an open console, the audit; and the console in
a real browser (chromium): type a command, see its output, refresh, see the screen again."""

import json
import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from browser_support import ConsoleWatch, artifacts_dir, chromium  # noqa: F401 - fixture
from support import PASSWORD
from vps_e2e import closed_with, mint, open_console, screen_until, ws_url
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from berth_testing.oauth import bearer, password_login

# the first VPS of a run builds the base image (debootstrap) before it boots
pytestmark = pytest.mark.timeout(1800)

API = "/api/deploy/v1"
ED25519 = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG2T9ZL0hQfGQWJxv9U4W4rYx8Y8jQ5cU9l2k1y0j5Fv e2e@berth"
)


def needs_deploy(platform) -> None:
    if "deploy" not in platform.processes:
        pytest.skip("deploy is not part of this platform run (BERTH_E2E_SERVICES)")


def token_of(platform, email: str) -> str:
    with httpx.Client(base_url=platform.public_url, timeout=30) as edge:
        r = password_login(edge, email, PASSWORD)
        assert r.status_code == 200, r.text
        return r.json()["access_token"]


@pytest.fixture(scope="module")
def people(platform, register_verified) -> dict[str, str]:
    """Access tokens of the VPS's owner and of another person; the owner's email (the browser
    signs in with it)."""
    needs_deploy(platform)
    owner, other = register_verified(), register_verified()
    return {
        "owner": token_of(platform, owner),
        "other": token_of(platform, other),
        "owner_email": owner,
    }


def test_the_console_route_through_traefik_checks_before_anything(platform, people):
    vps = uuid.uuid4()
    # a VPS that is not yours (or not there): no token
    r = mint(platform, vps, people["owner"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "vps_not_found"
    # without a sign-in the gateway refuses the upgrade
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(platform, vps, "bvc_x"), proxy=None, open_timeout=15)
    assert refused.value.response.status_code == 401
    # a foreign page: refused before the upgrade
    with pytest.raises(InvalidStatus) as refused:
        open_console(platform, vps, "bvc_x", people["owner"], origin="https://evil.example")
    assert refused.value.response.status_code == 403
    # through Traefik to deploy, which refuses the unknown token with a close that says so
    with open_console(platform, vps, "bvc_" + "x" * 43, people["owner"]) as ws:
        assert closed_with(ws) == 4403


@pytest.fixture(scope="module")
def machine(platform, people, request) -> Iterator[dict]:
    """A VPS of the owner's, running (ordered through the API; the node's supervisor runs)."""
    request.getfixturevalue("deploy_node")
    owner = bearer(people["owner"])
    with httpx.Client(base_url=platform.public_url, timeout=60) as edge:
        plans = edge.get(f"{API}/vps/plans", headers=owner)
        assert plans.status_code == 200, plans.text
        name = f"con-{uuid.uuid4().hex[:6]}"
        r = edge.post(
            f"{API}/vps",
            json={"name": name, "plan": plans.json()[0]["key"], "ssh_public_key": ED25519},
            headers=owner,
        )
        if r.status_code == 503:
            pytest.skip(f"this node runs no VPS: {r.text}")
        assert r.status_code == 202, r.text
        vps_id = r.json()["vps"]["id"]
        deadline, found = time.monotonic() + 1500, {}
        while time.monotonic() < deadline:
            found = edge.get(f"{API}/vps/{vps_id}", headers=owner).json()
            if found["status"] in ("running", "failed"):
                break
            time.sleep(3)
        assert found.get("status") == "running", found
        yield found
        edge.delete(f"{API}/vps/{vps_id}", headers=owner)


def test_a_real_console_answers_once_per_token_and_replays(platform, people, machine):
    vps = machine["id"]
    minted = mint(platform, vps, people["owner"])
    assert minted.status_code == 201, minted.text
    token = minted.json()["token"]
    # another person can neither mint for it nor use the owner's token
    assert mint(platform, vps, people["other"]).status_code == 404
    with open_console(platform, vps, token, people["other"]) as ws:
        assert closed_with(ws) == 4403
    with open_console(platform, vps, token, people["owner"]) as ws:
        assert json.loads(ws.recv(timeout=15))["type"] == "hello"
        screen_until(ws, b":~#", timeout=600, poke=b"\r")  # root's prompt (autologin)
        ws.send(b"echo console-$((6*7))-ok\r")
        screen_until(ws, b"console-42-ok")
    # the same token again: refused
    with open_console(platform, vps, token, people["owner"]) as ws:
        assert closed_with(ws) == 4403
    # a new token: the screen comes back before anything is typed
    with open_console(
        platform, vps, mint(platform, vps, people["owner"]).json()["token"], people["owner"]
    ) as ws:
        assert json.loads(ws.recv(timeout=15))["type"] == "hello"
        assert b"console-42-ok" in screen_until(ws, b"console-42-ok", timeout=15)


def test_the_console_in_a_browser_survives_a_refresh(chromium, platform, people, machine):  # noqa: F811
    from playwright.sync_api import expect

    base_url, shots = platform.env["BERTH_PUBLIC_URL"], artifacts_dir()
    email = people["owner_email"]
    context = chromium.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(30_000)
    console = ConsoleWatch(page)
    page.goto("/login")
    page.fill("#f-email", email)
    page.fill("#f-password", PASSWORD)
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(re.compile(r"/panel"))
    page.goto(f"/panel/vps/{machine['id']}")
    expect(page.locator("[data-kind]").first).to_be_visible()
    page.goto(f"/panel/vps/{machine['id']}/console")
    expect(page.locator("#console-state")).to_have_text("connected")
    page.click("#console")
    page.keyboard.press("Enter")
    page.keyboard.type("echo browser-$((40+2))-seen")
    page.keyboard.press("Enter")
    rows = page.locator("#console .xterm-rows")
    expect(rows).to_contain_text("browser-42-seen")
    page.screenshot(path=str(shots / "vps-console.png"))
    page.reload()
    expect(page.locator("#console-state")).to_have_text("connected")
    expect(rows).to_contain_text("browser-42-seen")  # replayed from the console's log
    page.screenshot(path=str(shots / "vps-console-refreshed.png"))
    console.assert_clean()
    context.close()


def test_suspension_closes_an_open_console_and_the_audit_says_so(
    platform, people, machine, admin_token
):
    vps = machine["id"]
    token = mint(platform, vps, people["owner"]).json()["token"]
    with open_console(platform, vps, token, people["owner"]) as ws:
        assert json.loads(ws.recv(timeout=15))["type"] == "hello"
        with httpx.Client(base_url=platform.public_url, timeout=30) as edge:
            r = edge.post(
                f"{API}/admin/vps/{vps}/actions/suspend",
                json={"reason": "e2e"},
                headers=bearer(admin_token),
            )
            assert r.status_code == 202, r.text
        assert closed_with(ws, timeout=60) == 4423
    with httpx.Client(base_url=platform.public_url, timeout=30) as edge:
        audit = edge.get(
            f"{API}/admin/vps/console-sessions",
            params={"vps_id": vps},
            headers=bearer(admin_token),
        )
        assert audit.status_code == 200, audit.text
        reasons = [s["close_reason"] for s in audit.json()["items"]]
        assert "suspended" in reasons and "token_refused" not in reasons
        assert (
            edge.get(
                f"{API}/admin/vps/console-sessions", headers=bearer(people["owner"])
            ).status_code
            == 403
        )
