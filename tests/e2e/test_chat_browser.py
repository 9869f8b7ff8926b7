"""Live chat in a real browser (chromium, headless), through Traefik and the gateway: a
customer starts a chat with support and writes; a support person, in a second browser
context, finds it at the desk, takes it over and answers; the customer sees the typing and
the answer live; a dropped socket resends the unacked message once; a reload resumes the
history with nothing missing or doubled; another customer gets 404; no console or CSP error
anywhere. Screenshots land with the frontend's (browser_support.py)."""

import re
import time

import httpx
import pytest
from browser_support import ConsoleWatch, artifacts_dir, chromium  # noqa: F401 - fixture
from support import PASSWORD

from berth_testing.oauth import bearer, password_login

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def people(platform, register_verified, admin_token) -> dict:
    """A customer, a support person (role given by an admin), and another customer."""
    customer, staff, other = register_verified(), register_verified(), register_verified()
    with httpx.Client(base_url=platform.public_url, timeout=30) as edge:
        r = password_login(edge, staff, PASSWORD)
        assert r.status_code == 200, r.text
        staff_id = edge.get("/api/auth/v1/me", headers=bearer(r.json()["access_token"])).json()[
            "id"
        ]
        r = edge.put(
            f"/api/auth/v1/admin/users/{staff_id}/roles",
            json={"roles": ["user", "support"]},
            headers=bearer(admin_token),
        )
        assert r.status_code == 200, r.text
    return {"customer": customer, "staff": staff, "other": other}


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


def seqs_and_bodies(page) -> list[tuple[int, str]]:
    return page.eval_on_selector_all(
        "#chat [data-chat-messages] li[data-seq]",
        "nodes => nodes.map(n => [parseInt(n.dataset.seq, 10),"
        " n.querySelector('.chat-body').textContent])",
    )


def send(page, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")


def test_a_customer_and_support_chat_live(chromium, platform, people):  # noqa: F811
    from playwright.sync_api import expect

    base_url, shots = platform.env["BERTH_PUBLIC_URL"], artifacts_dir()
    hello = "Hello, my build fails <img src=x onerror=alert(1)>"

    # the customer starts a chat with support and writes
    context, page, console = signed_in_page(chromium, base_url, people["customer"])
    page.click(".menu a[data-menu='chat']")
    expect(page.locator("#main h1")).to_have_text("Chat")
    page.click("#start-support-chat")
    expect(page).to_have_url(re.compile(r"/panel/chat/[0-9a-f-]{36}$"))
    chat_url = page.url
    expect(page.locator("#chat[data-connected]")).to_have_count(1)
    send(page, hello)
    mine = page.locator("#chat li.mine")
    expect(mine).to_have_count(1)
    expect(mine.first).to_have_attribute("data-seq", re.compile(r"^\d+$"))  # acked
    expect(mine.first.locator(".chat-body")).to_have_text(hello)  # as text, never as HTML
    assert page.locator("#chat img").count() == 0
    page.screenshot(path=shots / "chat-01-customer.png", full_page=True)

    # support finds it at the desk, takes it over and answers
    staff_context, desk, staff_console = signed_in_page(chromium, base_url, people["staff"])
    desk.goto("/support/chats?view=waiting")
    conversation_id = chat_url.rsplit("/", 1)[1]
    row = desk.locator(f"#chats-table tr[data-conversation='{conversation_id}'] a")
    expect(row).to_have_count(1)
    row.click()
    expect(desk).to_have_url(re.compile(rf"/support/chats/{conversation_id}$"))
    desk.click("#chat-take")
    expect(desk.locator(".notice-success")).to_contain_text("You took over")
    expect(desk.locator("#chat[data-connected]")).to_have_count(1)
    expect(desk.locator("#chat .message-customer .chat-body")).to_have_text([hello])
    desk.fill("#chat-input", "Try a clean build")  # typing is shown to the customer
    expect(page.locator("#chat [data-chat-typing]")).to_contain_text("Support is typing")
    desk.press("#chat-input", "Enter")
    expect(desk.locator("#chat li.mine[data-seq]")).to_have_count(1)
    desk.screenshot(path=shots / "chat-02-desk.png", full_page=True)

    # the customer sees the answer live, and support has read the customer's message
    expect(page.locator("#chat .message-staff .chat-body")).to_have_text(["Try a clean build"])
    expect(page.locator("#chat li.mine.read")).to_have_count(1)
    expect(page.locator("[data-chat-badge]")).to_have_text("with a person")  # the handoff

    # the socket drops: a message written meanwhile waits, is sent again once reconnected
    # (same client_msg_id) and shows once on both sides
    page.evaluate("document.querySelector('#chat').chatClient.ws.close()")
    send(page, "still there?")
    expect(page.locator("#chat li.mine")).to_have_count(2)
    expect(page.locator("#chat li.mine").nth(1)).to_have_attribute(
        "data-seq", re.compile(r"^\d+$"), timeout=20_000
    )
    expect(desk.locator("#chat .message-customer .chat-body")).to_have_text([hello, "still there?"])
    page.screenshot(path=shots / "chat-03-answered.png", full_page=True)

    # a reload resumes the history: every message once, in seq order
    before = seqs_and_bodies(page)
    page.reload()
    expect(page.locator("#chat[data-connected]")).to_have_count(1)
    desk.fill("#chat-input", "after your reload")
    desk.press("#chat-input", "Enter")
    expect(page.locator("#chat .message-staff .chat-body")).to_have_text(
        ["Try a clean build", "after your reload"]
    )
    after = seqs_and_bodies(page)
    assert after[: len(before)] == before
    seqs = [s for s, _ in after]
    assert seqs == sorted(set(seqs)), after
    assert [b for _, b in after].count("still there?") == 1
    console.assert_clean()
    staff_console.assert_clean()
    staff_context.close()

    # another customer: the conversation is not theirs, and the desk is not theirs either
    other_context, other, _ = signed_in_page(chromium, base_url, people["other"])
    response = other.goto(chat_url)
    assert response is not None and response.status == 404
    assert "clean build" not in other.content()
    other.goto("/support/chats")
    assert "No open conversations" not in other.content() and conversation_id not in other.content()
    other_context.close()
    context.close()


def post_messages(edge: httpx.Client, token: dict, conversation_id: str, texts: list[str]):
    """Send over REST as an API client would; waits out the per-person rate limit (429)."""
    for text in texts:
        for _ in range(30):
            r = edge.post(
                f"/api/chat/v1/conversations/{conversation_id}/messages",
                json={"client_msg_id": f"seed-{text}", "body": text},
                headers=token,
            )
            if r.status_code != 429:
                break
            time.sleep(1)
        assert r.status_code == 200, r.text


def test_a_long_history_pages_upward_without_gaps_or_doubles(chromium, platform, people):  # noqa: F811
    from playwright.sync_api import expect

    base_url = platform.env["BERTH_PUBLIC_URL"]
    with httpx.Client(base_url=platform.public_url, timeout=30) as edge:
        customer = bearer(password_login(edge, people["customer"], PASSWORD).json()["access_token"])
        staff = bearer(password_login(edge, people["staff"], PASSWORD).json()["access_token"])
        r = edge.post("/api/chat/v1/conversations", json={}, headers=customer)
        assert r.status_code == 201, r.text
        conversation_id = r.json()["id"]
        # 26 from each side (and the notice that support joined): more than the first page
        post_messages(edge, customer, conversation_id, [f"c{n:02d}" for n in range(26)])
        post_messages(edge, staff, conversation_id, [f"s{n:02d}" for n in range(26)])
        last_seq = edge.get(f"/api/chat/v1/conversations/{conversation_id}", headers=customer)
        total = last_seq.json()["last_seq"]
    assert total == 53

    context, page, console = signed_in_page(chromium, base_url, people["customer"])
    page.goto(f"/panel/chat/{conversation_id}")
    expect(page.locator("#chat[data-connected]")).to_have_count(1)
    rows = page.locator("#chat [data-chat-messages] li[data-seq]")
    expect(rows).to_have_count(50)
    page.click("[data-chat-earlier]")
    expect(rows).to_have_count(total)
    expect(page.locator(".chat-earlier")).to_be_hidden()
    found = seqs_and_bodies(page)
    assert [s for s, _ in found] == list(range(1, total + 1))
    bodies = [b for _, b in found]
    assert bodies[0] == "c00" and bodies.count("c00") == 1 and bodies[-1] == "s25"
    console.assert_clean()
    context.close()
