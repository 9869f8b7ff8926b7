"""The support desk in a real browser (chromium, headless): a customer opens a ticket with
files, support staff answer from the desk with a note and a file of their own, the customer
reads the answer (never the note) and downloads a file only as an attachment; another
customer finds nothing. Screenshots land with the frontend's (browser_support.py)."""

import re
import uuid

import httpx
import pytest
from browser_support import ConsoleWatch, artifacts_dir, chromium  # noqa: F401 - fixture
from support import PASSWORD

from berth_testing.oauth import bearer, password_login

pytestmark = pytest.mark.timeout(240)
API = "/api/tickets/v1"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06" + b"\0" * 64
NOTE = f"internal-{uuid.uuid4().hex[:8]}: customer is on the legacy builder"


def token_of(edge: httpx.Client, email: str) -> dict[str, str]:
    r = password_login(edge, email, PASSWORD)
    assert r.status_code == 200, r.text
    return bearer(r.json()["access_token"])


@pytest.fixture(scope="module")
def desk(platform, register_verified, admin_token) -> dict:
    """A department whose agent is a support person (role and membership given by an admin),
    a customer, and another customer."""
    admin = bearer(admin_token)
    with httpx.Client(base_url=platform.public_url, timeout=30) as edge:
        r = edge.post(
            f"{API}/admin/departments",
            json={"slug": f"tech-{uuid.uuid4().hex[:6]}", "name": "Technical"},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        department = r.json()
        customer, support, other = register_verified(), register_verified(), register_verified()
        support_id = edge.get("/api/auth/v1/me", headers=token_of(edge, support)).json()["id"]
        r = edge.put(
            f"/api/auth/v1/admin/users/{support_id}/roles",
            json={"roles": ["user", "support"]},
            headers=admin,
        )
        assert r.status_code == 200, r.text
        r = edge.put(
            f"{API}/admin/departments/{department['id']}/agents/{support_id}",
            json={"is_active": True},
            headers=admin,
        )
        assert r.status_code == 200, r.text
    return {"department": department, "customer": customer, "support": support, "other": other}


def signed_in_page(chromium, base_url: str, email: str):  # noqa: F811
    from playwright.sync_api import expect

    context = chromium.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    console = ConsoleWatch(page)
    page.goto("/login")
    page.fill("#f-email", email)
    page.fill("#f-password", PASSWORD)
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(re.compile(r"/panel"))
    return context, page, console


def test_a_ticket_with_files_answered_from_the_desk(chromium, platform, desk, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    base_url, shots = platform.env["BERTH_PUBLIC_URL"], artifacts_dir()
    screenshot = tmp_path / "screen.png"
    screenshot.write_bytes(PNG)
    disguised = tmp_path / "cat.png"
    disguised.write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 120)
    trace = tmp_path / "trace.log"
    trace.write_text("2026-11-30 build failed: <script>alert(1)</script>\n")

    # the customer opens a ticket with two files (and a disguised executable, refused)
    context, page, console = signed_in_page(chromium, base_url, desk["customer"])
    page.click(".menu a[data-menu='support']")
    expect(page.locator("#main h1")).to_have_text("Support")
    page.click("text=Open a ticket")
    page.select_option("#f-department", desk["department"]["slug"])
    page.select_option("#f-priority", "high")
    page.fill("#f-subject", "Build fails since this morning")
    page.fill("#f-body", "The **build** fails; trace attached. <img src=x onerror=alert(1)>")
    page.set_input_files("#f-files", [str(screenshot), str(trace), str(disguised)])
    page.screenshot(path=shots / "tickets-01-open.png", full_page=True)
    page.click("button:has-text('Open ticket')")
    expect(page).to_have_url(re.compile(r"/panel/support/[0-9a-f-]{36}$"))
    ticket_url = page.url
    expect(page.locator(".notice-error")).to_contain_text("cat.png")  # refused by its content
    files = page.locator("#thread .files a")
    expect(files).to_have_count(2)
    expect(files.first).to_have_text("screen.png")
    expect(page.locator("#thread .message-body strong")).to_have_text("build")
    assert page.locator("#thread img").count() == 0  # the raw HTML stayed text
    number = page.locator("#main h1").inner_text().split(" ")[0]
    page.screenshot(path=shots / "tickets-02-thread.png", full_page=True)

    # support staff find it in the queue, add a note and answer with a file
    staff_context, desk_page, staff_console = signed_in_page(chromium, base_url, desk["support"])
    desk_page.click("text=Support desk")
    expect(desk_page).to_have_url(f"{base_url}/support")
    expect(desk_page.locator("#queue-table")).to_contain_text(number)
    desk_page.click(f"#queue-table a:has-text('{number}')")
    expect(desk_page.locator("#main h1")).to_contain_text(number)
    expect(desk_page.locator("#thread .files a")).to_have_count(2)
    desk_page.fill("#f-note", NOTE)
    desk_page.click("button:has-text('Add note')")
    expect(desk_page.locator("#notes .note")).to_contain_text(NOTE)
    desk_page.fill("#f-reply", "Please retry with a clean cache; see the attached log.")
    desk_page.set_input_files("#f-reply-files", [str(trace)])
    desk_page.click("button:has-text('Send reply')")
    expect(desk_page.locator(".notice-success")).to_contain_text("Reply sent.")
    expect(desk_page.locator("#thread .message-staff")).to_contain_text("clean cache")
    expect(desk_page.locator("#thread .message-staff .files a")).to_have_text("trace.log")
    desk_page.screenshot(path=shots / "tickets-03-desk.png", full_page=True)
    staff_console.assert_clean()
    staff_context.close()

    # the customer sees the answer and its file, never the note
    page.goto(ticket_url)
    expect(page.locator("#thread .message-staff")).to_contain_text("clean cache")
    assert NOTE not in page.content()
    page.goto("/panel/support")
    assert NOTE not in page.content()
    # the note's words are not in the customer's search either
    page.goto("/panel/support?q=legacy")
    expect(page.locator("#tickets-table")).to_contain_text("No tickets match.")
    page.goto("/panel/support?q=clean+cache")
    expect(page.locator("#tickets-table")).to_contain_text(number)
    page.goto(ticket_url)
    href = page.locator("#thread .message-staff .files a").get_attribute("href")
    download = page.request.get(href)
    assert download.status == 200
    assert download.body() == trace.read_bytes()
    headers = download.headers
    assert headers["content-disposition"].startswith("attachment;")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert headers["content-type"].startswith("text/plain")
    console.assert_clean()

    # another customer: the ticket page and its file are not theirs
    other_context, other, _ = signed_in_page(chromium, base_url, desk["other"])
    response = other.goto(ticket_url)
    assert response is not None and response.status == 404
    assert "clean cache" not in other.content()
    refused = other.request.get(href)
    assert refused.status == 403
    assert b"clean cache" not in refused.body() and trace.read_bytes() not in refused.body()
    other.goto("/support")
    assert "Support queue" not in other.content()
    other_context.close()
    context.close()
