"""Issue 11's journey in a real browser (chromium, headless), through Traefik: add a monitor
in the panel, see its response-time chart once the checker has checked it, put it on a status
page under a public name, and open /status/<slug> as an anonymous visitor."""

import re
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_support import ConsoleWatch, artifacts_dir, chromium  # noqa: F401 - fixture
from support import PASSWORD

from berth_testing.platform import BIN
from berth_testing.processes import ManagedProcess

pytestmark = pytest.mark.timeout(480)


@pytest.fixture
def base_url(platform) -> str:
    return platform.env["BERTH_PUBLIC_URL"]


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    """The watched site: a health URL on 127.0.0.2 (the only private address the run opens)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"status": "ok"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.2:{server.server_address[1]}/health"
    server.shutdown()
    server.server_close()


@pytest.fixture
def beat(platform, tmp_path: Path) -> Iterator[None]:
    """The Procfile's monitoring beat, firing a checker run every 2 s for the platform's
    monitoring worker (the run's platform starts workers, not beats)."""
    env = {**platform.env_for("monitoring"), "MONITORING_CHECK_RUN_SECONDS": "2"}
    proc = ManagedProcess(
        "monitoring-beat-journey",
        [str(BIN / "celery"), "-A", "berth_monitoring.worker", "beat",
         "--schedule", str(tmp_path / "beat-schedule"), "--pidfile="],
        env=env, log_dir=tmp_path, cwd=platform.root,
    ).start()  # fmt: skip
    yield
    proc.stop()


def test_add_a_monitor_see_its_chart_and_open_its_status_page(
    chromium,  # noqa: F811
    platform,
    base_url,
    register_verified,
    target,
    beat,
):
    from playwright.sync_api import expect

    shots = artifacts_dir()
    context = chromium.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    console = ConsoleWatch(page)
    page.goto("/login")
    page.fill("#f-email", register_verified())
    page.fill("#f-password", PASSWORD)
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(re.compile(r"/panel"))

    # add a monitor
    page.click(".menu a[data-menu='monitoring']")
    expect(page).to_have_url(f"{base_url}/panel/monitoring")
    page.goto("/panel/monitoring/new")
    page.check("input[name='kind'][value='http']")
    page.fill("#f-name", "shop-eu-internal")
    page.fill("#f-url", target)
    page.fill("#f-interval_seconds", "20")
    page.fill("#f-timeout_seconds", "5")
    page.click("#new-monitor-form button:has-text('Add monitor')")
    expect(page).to_have_url(re.compile(r"/panel/monitoring/[0-9a-f-]{36}$"))
    monitor_url = page.url

    # its chart, once the checker has judged it up (a run every 2 s; first check within one
    # 20 s interval, up after the success threshold's checks)
    monitor_id = monitor_url.rsplit("/", 1)[1]
    token = next(c["value"] for c in context.cookies() if c["name"].endswith("berth_access"))
    with httpx.Client(base_url=platform.public_url, timeout=20) as edge:
        deadline = time.monotonic() + 150
        state = None
        while time.monotonic() < deadline:
            r = edge.get(
                f"/api/monitoring/v1/monitors/{monitor_id}",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 200, r.text
            state = r.json()["state"]
            if state == "up":
                break
            time.sleep(2)
    assert state == "up"
    # the chart draws from the minute rollups (beat rolls up every 60 s)
    chart = page.locator("canvas[data-chart-name='latency']")
    deadline = time.monotonic() + 180
    while True:
        page.goto(monitor_url)
        if chart.count() or time.monotonic() > deadline:
            break
        page.wait_for_timeout(5000)
    expect(chart).to_be_visible()
    page.wait_for_function(
        "document.querySelector(\"canvas[data-chart-name='latency']\").width > 0"
    )
    page.screenshot(path=shots / "monitoring-journey-monitor.png", full_page=True)

    # a status page with it, under a public name
    page.click(".menu a[data-menu='statuspages']")
    page.click("#main a:has-text('New status page')")
    slug = f"shop-{uuid.uuid4().hex[:8]}"
    page.fill("#f-slug", slug)
    page.fill("#f-title", "Shop status")
    row = page.locator(".picker-row", has_text="shop-eu-internal")
    row.locator("input[type='checkbox']").check()
    row.locator("input[name^='display_']").fill("Shop")
    page.click("button:has-text('Create status page')")
    expect(page.locator(".notice-success")).to_contain_text(f"/status/{slug}")
    console.assert_clean()
    context.close()

    visitor = chromium.new_context(base_url=base_url)
    public = visitor.new_page()
    response = public.goto(f"/status/{slug}")
    assert response is not None and response.status == 200
    expect(public.locator("h1")).to_have_text("Shop status")
    card = public.locator(".status-monitor", has_text="Shop")
    expect(card.locator(".bar")).to_have_count(90)
    expect(card.locator(".status-state")).to_have_attribute("data-state", "up")
    html = public.content()
    assert "shop-eu-internal" not in html and "127.0.0.2" not in html
    public.screenshot(path=shots / "monitoring-journey-status.png", full_page=True)
    visitor.close()
    with httpx.Client(base_url=platform.public_url, timeout=20) as edge:
        read = edge.get(f"/api/monitoring/v1/public/status/{slug}").json()
    assert [m["name"] for m in read["monitors"]] == ["Shop"]
