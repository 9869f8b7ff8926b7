"""The panel's billing over HTTP through Traefik: balance, top-up to the sandbox checkout,
ledger filters in the URL, invoices; the landing page's prices; and what a page shows while
billing is down (stopped for the test, started again after)."""

import re
import time

import pytest
from frontend_web import WebClient
from support import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD

BILLING_PARTIALS = ["billing", "billing/summary", "billing/ledger", "billing/invoices"]


@pytest.fixture
def web(platform, register_verified):
    with WebClient(platform.public_url) as client:
        client.login(register_verified(), PASSWORD)
        yield client


def needs_billing(platform) -> None:
    if "billing" not in platform.processes:
        pytest.skip("billing is not part of this platform run (BERTH_E2E_SERVICES)")


def pay_in_sandbox(web: WebClient, checkout_url: str) -> None:
    """What the person does on the provider's page: press Pay."""
    path = location_path_of(checkout_url)
    page = web.get(path)
    assert page.status_code == 200 and "Pay" in page.text, page.text[:500]
    paid = web.http.post(path, data={"decision": "pay"})
    assert paid.status_code == 200, paid.text[:500]


def location_path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def wait_for(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.3)


def test_billing_partials_answer_a_signed_in_person(platform, web):
    needs_billing(platform)
    for path in BILLING_PARTIALS:
        partial = web.htmx_get(f"/partials/{path}", page="/panel/billing")
        assert partial.status_code == 200, (path, partial.text[:500])
        assert "unavailable" not in partial.text
        assert web.get(f"/panel/{path}").status_code == 200
    page = web.get("/panel/billing").text
    assert 'data-stat="balance">0.00 EUR<' in page
    assert 'data-chart-name="spend"' in page and 'data-chart-name="balance"' in page


def test_top_up_through_the_sandbox_checkout_shows_in_balance_and_ledger(platform, web):
    needs_billing(platform)
    bad = web.htmx_post("/partials/billing/topup", {"amount": "12.345"}, "/panel/billing")
    assert bad.status_code == 200 and "decimal places" in bad.text
    started = web.htmx_post(
        "/partials/billing/topup",
        {"amount": "25", "idempotency_key": "e2e-topup-0001"},
        "/panel/billing",
    )
    assert started.status_code == 204, started.text[:500]
    checkout = started.headers["hx-redirect"]
    assert "/api/billing/v1/sandbox/checkout/" in checkout
    pay_in_sandbox(web, checkout)

    def balance_shown() -> bool:
        return 'data-stat="balance">25.00 EUR<' in web.get("/panel/billing").text

    assert wait_for(balance_shown), "the webhook never credited the top-up"
    ledger = web.get("/panel/billing/ledger?kind=topup").text
    assert "25.00 EUR" in ledger
    assert 'option value="topup" selected' in ledger
    empty = web.htmx_get("/partials/billing/ledger?kind=refund", page="/panel/billing/ledger")
    assert "No movements match these filters." in empty.text
    assert empty.headers["hx-push-url"] == "/panel/billing/ledger?kind=refund"
    dashboard = web.get("/panel").text
    assert 'data-stat="balance">25.00 EUR<' in dashboard


def test_landing_page_shows_plans_and_prices(platform, web):
    needs_billing(platform)
    html = web.get("/").text
    assert 'data-plan="web-small"' in html
    assert re.search(r"[0-9.]+ EUR / hour", html)


def test_pages_say_when_billing_is_down(platform, web):
    needs_billing(platform)
    platform.processes["billing"].stop()
    try:
        dashboard = web.get("/panel")
        assert dashboard.status_code == 200
        assert 'data-unavailable="billing"' in dashboard.text
        assert "Your balance is unavailable right now" in dashboard.text
        assert 'id="card-activity"' in dashboard.text  # the rest of the page is there
        screen = web.htmx_get("/partials/billing", page="/panel/billing")
        assert screen.status_code == 200 and 'data-unavailable="billing"' in screen.text
        refused = web.htmx_post("/partials/billing/topup", {"amount": "5"}, "/panel/billing")
        assert "unavailable right now; nothing was changed" in refused.text
        assert 'data-unavailable="billing"' in web.get("/").text
        assert (
            web.get("/panel/billing/invoices/00000000-0000-0000-0000-000000000000/pdf").status_code
            == 503
        )
    finally:
        platform.start_web("billing")
    assert 'data-unavailable="billing"' not in web.get("/panel").text


def test_someone_elses_invoice_is_not_found(platform, web):
    needs_billing(platform)
    response = web.get("/panel/billing/invoices/00000000-0000-0000-0000-000000000000/pdf")
    assert response.status_code == 404


def start_and_pay(web: WebClient, amount: str) -> None:
    started = web.htmx_post("/partials/billing/topup", {"amount": amount}, "/panel/billing")
    assert started.status_code == 204, started.text[:500]
    pay_in_sandbox(web, started.headers["hx-redirect"])


def test_admin_adjusts_an_account_and_refunds_a_payment(platform, register_verified):
    needs_billing(platform)
    email = register_verified()
    with WebClient(platform.public_url) as person, WebClient(platform.public_url) as admin:
        person.login(email, PASSWORD)
        start_and_pay(person, "7.50")
        assert wait_for(lambda: "7.50 EUR<" in person.get("/panel/billing").text)
        admin.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        for path in ("billing", "billing/payments", "billing/plans"):
            assert admin.htmx_get(f"/admin/partials/{path}", page="/admin").status_code == 200
        found = admin.get(f"/admin/billing?q={email}").text
        account_id = re.search(r'/admin/billing/accounts/([0-9a-f-]{36})"', found).group(1)
        credited = admin.htmx_post(
            f"/admin/partials/billing/accounts/{account_id}/adjust",
            {
                "direction": "credit",
                "amount": "2.50",
                "currency": "EUR",
                "reason": "goodwill",
                "idempotency_key": f"adj-{account_id}",
            },
            page=f"/admin/billing/accounts/{account_id}",
        )
        assert "The account was credited." in credited.text
        assert 'data-stat="account-balance">10.00 EUR<' in credited.text
        assert "goodwill" in credited.text  # in the ledger below

        owner_id = re.search(r"Owner ([0-9a-f-]{36})", credited.text).group(1)
        payments = admin.get(f"/admin/billing/payments?owner_id={owner_id}").text
        assert payments.count("/refund") == 1  # only this person's one payment
        payment_id = re.search(r"/payments/([0-9a-f-]{36})/refund", payments).group(1)
        refunded = admin.htmx_post(
            f"/admin/partials/billing/payments/{payment_id}/refund",
            {
                "amount": "1.00",
                "currency": "EUR",
                "reason": "partial refund",
                "idempotency_key": f"ref-{payment_id}",
            },
            page="/admin/billing/payments",
        )
        assert "The refund was issued." in refunded.text, refunded.text[:3000]
        assert wait_for(lambda: "9.00 EUR<" in person.get("/panel/billing").text)
        assert person.htmx_get("/admin/partials/billing").status_code == 403


def test_admin_creates_a_plan_and_schedules_its_price(platform):
    needs_billing(platform)
    key = f"fe-test-{int(time.time()) % 10**6}"
    with WebClient(platform.public_url) as admin:
        admin.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        created = admin.htmx_post(
            "/admin/partials/billing/plans",
            {
                "key": key,
                "name": "Frontend test plan",
                "amount_per_hour": "0.05",
                "currency": "EUR",
                "description": "made by a test",
            },
            page="/admin/billing/plans",
        )
        assert f"Plan {key} created." in created.text, created.text[:2000]
        assert f'<code class="muted">{key}</code>' in created.text
        bad = admin.htmx_post(
            f"/admin/partials/billing/plans/{key}/price",
            {"amount_per_hour": "-1", "currency": "EUR"},
            page="/admin/billing/plans",
        )
        assert "above zero" in bad.text
        scheduled = admin.htmx_post(
            f"/admin/partials/billing/plans/{key}/price",
            {"amount_per_hour": "0.07", "currency": "EUR"},
            page="/admin/billing/plans",
        )
        assert f"New price for {key}" in scheduled.text
        assert "0.07 EUR from" in scheduled.text  # the scheduled next price
        assert f'value="10" aria-label="Apps per person on {key}"' in scheduled.text
        limited = admin.htmx_post(
            f"/admin/partials/billing/plans/{key}/max-apps",
            {"max_apps_per_owner": "3"},
            page="/admin/billing/plans",
        )
        assert f"A person may now have 3 apps on {key}" in limited.text, limited.text[:2000]
        assert f'value="3" aria-label="Apps per person on {key}"' in limited.text
        refused = admin.htmx_post(
            f"/admin/partials/billing/plans/{key}/max-apps",
            {"max_apps_per_owner": "-1"},
            page="/admin/billing/plans",
        )
        assert "Apps per person is a whole number" in refused.text
        withdrawn = admin.htmx_post(
            f"/admin/partials/billing/plans/{key}/active",
            {"active": "false"},
            page="/admin/billing/plans",
        )
        assert f"Plan {key} is withdrawn from sale." in withdrawn.text
