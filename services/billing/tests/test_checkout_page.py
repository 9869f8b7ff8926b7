"""The sandbox checkout page: a template with autoescape, open until its one decision."""

import httpx
from fixtures_billing import API

from berth_billing.models import Payment
from berth_billing.payments import checkout_page


async def test_declining_closes_the_page_and_the_payment_stays_unpaid(billing_http, person):
    alice = person()
    r = await billing_http.post(f"{API}/topups", json={"amount": 1500}, headers=alice.headers)
    path = httpx.URL(r.json()["checkout_url"]).path
    opened = await billing_http.get(path, headers=alice.headers)
    assert opened.headers["content-type"].startswith("text/html")
    assert 'value="decline"' in opened.text and f'action="{path}"' in opened.text

    r = await billing_http.post(path, data={"decision": "decline"}, headers=alice.headers)
    assert r.status_code == 200 and "15.00 EUR was declined" in r.text
    closed = await billing_http.get(path, headers=alice.headers)
    assert "This payment of 15.00 EUR is pending." in closed.text
    assert "<form" not in closed.text
    r = await billing_http.post(path, data={"decision": "maybe"}, headers=alice.headers)
    assert r.status_code == 422


def test_the_page_escapes_what_it_shows():
    payment = Payment(amount=250, currency="EUR", status="<b>odd</b>", checkout_decision="pay")
    page = checkout_page.render(payment, '/x"><script>')
    assert "&lt;b&gt;odd&lt;/b&gt;" in page and "<b>odd" not in page
    open_payment = Payment(amount=250, currency="EUR", status="pending")
    page = checkout_page.render(open_payment, '/x"><script>')
    assert "2.50 EUR" in page and "<script>" not in page and "&#34;&gt;&lt;script&gt;" in page
