"""Alert channels and status pages in a real browser (chromium, headless), through Traefik:
add a signed webhook channel and test it against a receiver on 127.0.0.2, publish a status
page, and open /status/<slug> as an anonymous visitor.

The full issue-11 journey (add a monitor, see its chart, open the status page) needs the
monitor pages of the mon-monitors branch; until they are merged this covers the alerts
helper's own pages."""

import json
import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from browser_support import ConsoleWatch, artifacts_dir, chromium  # noqa: F401 - fixture
from support import PASSWORD

from berth_common import signatures

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def base_url(platform) -> str:
    return platform.env["BERTH_PUBLIC_URL"]


@pytest.fixture(scope="module")
def receiver() -> Iterator[dict[str, Any]]:
    """A webhook receiver on 127.0.0.2 (the only private address the run opens)."""
    got: list[tuple[str, dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"url": f"http://127.0.0.2:{server.server_address[1]}", "got": got}
    server.shutdown()
    server.server_close()


def test_add_and_test_a_webhook_then_publish_a_status_page(
    chromium,  # noqa: F811
    platform,
    base_url,
    register_verified,
    receiver,
):
    from playwright.sync_api import expect

    shots = artifacts_dir()
    email = register_verified()
    context = chromium.new_context(base_url=base_url, viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    console = ConsoleWatch(page)

    page.goto("/login")
    page.fill("#f-email", email)
    page.fill("#f-password", PASSWORD)
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(re.compile(r"/panel"))

    # the channels screen, from the menu, without a reload
    page.click(".menu a[data-menu='channels']")
    expect(page).to_have_url(f"{base_url}/panel/monitoring/channels")
    expect(page.locator("#main h1")).to_have_text("Alert channels")
    page.click("#main a:has-text('Add channel')")
    expect(page.locator("#main h1")).to_have_text("Add an alert channel")
    page.check("input[name='kind'][value='webhook']")
    expect(page.locator("#f-address")).to_be_hidden()  # only the chosen kind's fields
    page.fill("#f-name", "Ops hook")
    page.fill("#f-url", f"{receiver['url']}/berth")
    page.click("button:has-text('Add channel')")

    expect(page).to_have_url(f"{base_url}/panel/monitoring/channels")
    secret = page.locator("#secret-value").inner_text().strip()
    assert secret.startswith("whsec_")
    row = page.locator("#channels-table tbody tr", has_text="Ops hook")
    expect(row).to_contain_text(secret[-4:])
    page.screenshot(path=shots / "monitoring-channel-added.png", full_page=True)

    row.locator("button:has-text('Send test')").click()
    expect(page.locator(".notice-success")).to_contain_text("Test alert sent")
    [(path, headers, body)] = receiver["got"]
    assert path == "/berth"
    signatures.verify(
        secret.encode(), headers["berth-signature"], body, tolerance_seconds=300
    )  # the receiver's check, with the secret the page showed once
    assert json.loads(body)["type"] == "channel.test"
    # the secret is not on the page any more once it is left
    page.reload()
    expect(page.locator("#channels-table")).to_contain_text("Ops hook")
    assert secret not in page.content()

    # a status page
    page.click(".menu a[data-menu='statuspages']")
    expect(page.locator("#main h1")).to_have_text("Status pages")
    page.click("#main a:has-text('New status page')")
    slug = f"acme-{uuid.uuid4().hex[:8]}"
    page.fill("#f-slug", slug)
    page.fill("#f-title", "Acme status")
    page.fill("#f-description", "Our shop and API")
    page.click("button:has-text('Create status page')")
    expect(page.locator(".notice-success")).to_contain_text(f"/status/{slug}")
    expect(page.locator("#status-pages-table")).to_contain_text("Acme status")
    page.screenshot(path=shots / "monitoring-status-pages.png", full_page=True)
    page.click("#status-pages-table a:has-text('Acme status')")  # edit it
    expect(page.locator("#f-slug")).to_have_value(slug)
    page.fill("#f-title", "Acme status")
    page.fill("#f-description", "Our shop and API, live")
    page.click("#status-page-form button:has-text('Save')")
    expect(page.locator(".notice-success")).to_contain_text("Saved: Acme status")
    console.assert_clean()
    context.close()

    # the public page, as an anonymous visitor
    visitor = chromium.new_context(base_url=base_url)
    public = visitor.new_page()
    response = public.goto(f"/status/{slug}")
    assert response is not None and response.status == 200
    assert "max-age" in (response.headers.get("cache-control") or "")
    expect(public.locator("h1")).to_have_text("Acme status")
    expect(public.locator("#status-page")).to_contain_text("Our shop and API, live")
    public.screenshot(path=shots / "monitoring-status-public.png", full_page=True)
    missing = public.goto(f"/status/nobody-{uuid.uuid4().hex[:6]}")
    assert missing is not None and missing.status == 404
    visitor.close()


def test_the_status_read_is_public_and_the_rest_is_not(platform, signed_in):
    who = signed_in()
    slug = f"edge-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=platform.public_url, timeout=20) as edge:
        r = edge.post(
            "/api/monitoring/v1/status-pages",
            json={"slug": slug, "title": "Edge"},
            headers=who.headers,
        )
        assert r.status_code == 201, r.text
        anonymous = edge.get(f"/api/monitoring/v1/public/status/{slug}")
        assert anonymous.status_code == 200 and anonymous.json()["title"] == "Edge"
        assert edge.get("/api/monitoring/v1/status-pages").status_code == 401
        assert edge.get("/api/monitoring/v1/channels").status_code == 401
        assert edge.post(f"/api/monitoring/v1/public/status/{slug}").status_code == 401
