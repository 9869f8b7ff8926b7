"""Monthly statements: lines from the ledger, gapless numbers under concurrency, frozen once
finalized, credit notes, PDF."""

import asyncio
import re
import uuid
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from fixtures_billing import API, a_past_hour, sql, wallet
from sqlalchemy.exc import DBAPIError
from test_metering import charge, deploy_event, make_plan, started, stopped

from berth_billing.accounts.dao import AccountDAO
from berth_billing.invoices import service as invoices
from berth_billing.ledger.service import Leg, post


def pdf_text(data: bytes) -> str:
    """The text of a PDF's page streams (fpdf2 deflates them)."""
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    out = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            out.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            out.append(stream.decode("latin-1"))
    return "\n".join(out)


async def month_with_usage(db, settings, owner) -> tuple[datetime, str]:
    """An account with usage and an adjustment in a past month of its own."""
    hour = a_past_hour().replace(day=10)
    plan = await make_plan(db, [(hour - timedelta(days=30), 600)])
    instance = uuid.uuid4()
    await deploy_event(
        db, settings, "deploy.instance.started", **started(instance, owner, plan, hour)
    )
    await deploy_event(
        db,
        settings,
        "deploy.instance.stopped",
        **stopped(instance, owner, plan, hour + timedelta(minutes=90)),
    )
    await charge(db, hour)
    await charge(db, hour + timedelta(hours=1))
    async with db() as session, session.begin():
        accounts = AccountDAO(session)
        account = await accounts.wallet_of(owner)
        other = await accounts.system_account("adjustments", settings.currency)
        await post(
            session,
            kind="adjustment",
            key=f"test:{uuid.uuid4()}",
            description="Adjustment (credit): goodwill",
            caused_by="admin:test",
            currency=settings.currency,
            legs=[Leg(account.id, 100), Leg(other, -100)],
            occurred_at=hour + timedelta(days=2),
        )
    return hour, f"{hour:%Y-%m}"


async def draft(db, settings, owner, period):
    start, end = invoices.month_bounds(period)
    account = await wallet(db, owner)
    async with db() as session, session.begin():
        return await invoices.draft_statement(session, settings, account.id, start, end)


async def finalize(db, settings, invoice_id, fail: bool = False):
    async with db() as session, session.begin():
        invoice = await invoices.finalize(session, settings, invoice_id)
        if fail:
            raise RuntimeError("crash after numbering")
        return invoice.number


def all_numbers_gapless(rows) -> None:
    numbers = sorted(int(n.split("-")[1]) for (n,) in rows)
    assert numbers == list(range(1, len(numbers) + 1))


async def test_statement_lines_totals_and_pdf(billing_http, billing_db, billing_settings, person):
    alice = person()
    hour, period = await month_with_usage(billing_db, billing_settings, alice.id)
    invoice = await draft(billing_db, billing_settings, alice.id, period)
    again = await draft(billing_db, billing_settings, alice.id, period)
    assert again.id == invoice.id  # one statement per (account, period)
    # 60 + 30 minutes at 600/h = 900; the goodwill credit reduces the charges by 100
    assert (invoice.total, invoice.closing_balance, invoice.opening_balance) == (800, -800, 0)
    # a draft is not the holder's yet
    assert (
        await billing_http.get(f"{API}/invoices/{invoice.id}", headers=alice.headers)
    ).status_code == 404

    number = await finalize(billing_db, billing_settings, invoice.id)
    r = await billing_http.get(f"{API}/invoices/{invoice.id}", headers=alice.headers)
    assert r.status_code == 200
    detail = r.json()
    assert detail["number"] == number and detail["status"] == "finalized"
    assert [(line["quantity"], line["amount"]) for line in detail["lines"]] == [
        ("1.50 h", 900),
        (f"{hour + timedelta(days=2):%Y-%m-%d}", -100),
    ]
    assert detail["seller"]["name"] == billing_settings.seller_name
    assert detail["buyer"]["owner_id"] == str(alice.id)
    listing = (await billing_http.get(f"{API}/invoices", headers=alice.headers)).json()
    assert [i["id"] for i in listing["items"]] == [str(invoice.id)]

    r = await billing_http.get(f"{API}/invoices/{invoice.id}/pdf", headers=alice.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = pdf_text(r.content)
    assert number in text and "9.00 EUR" in text and "-8.00 EUR" in text

    bob = person()
    for path in (f"/invoices/{invoice.id}", f"/invoices/{invoice.id}/pdf"):
        assert (await billing_http.get(f"{API}{path}", headers=bob.headers)).status_code == 404
    assert (await billing_http.get(f"{API}/invoices", headers=bob.headers)).json()["total"] == 0


async def test_finalized_invoices_and_their_lines_are_frozen(billing_db, billing_settings, person):
    alice = person()
    _, period = await month_with_usage(billing_db, billing_settings, alice.id)
    invoice = await draft(billing_db, billing_settings, alice.id, period)
    await finalize(billing_db, billing_settings, invoice.id)
    for statement in (
        "UPDATE billing.invoices SET total = 0 WHERE id = :i",
        "DELETE FROM billing.invoices WHERE id = :i",
        "UPDATE billing.invoice_lines SET amount = 1 WHERE invoice_id = :i",
        "DELETE FROM billing.invoice_lines WHERE invoice_id = :i",
        "INSERT INTO billing.invoice_lines (invoice_id, position, description, amount) "
        "VALUES (:i, 99, 'sneaky', 1)",
    ):
        with pytest.raises(DBAPIError, match="finalized"):
            await sql(billing_db, statement, i=invoice.id)


async def test_numbers_are_gapless_under_concurrent_finalization(
    billing_db, billing_settings, person
):
    owners = [person().id for _ in range(8)]
    drafts = []
    for owner in owners:
        _, period = await month_with_usage(billing_db, billing_settings, owner)
        drafts.append(await draft(billing_db, billing_settings, owner, period))
    # one finalization crashes after taking its number: the number goes back, no gap
    results = await asyncio.gather(
        *(
            finalize(billing_db, billing_settings, d.id, fail=(n == 3))
            for n, d in enumerate(drafts)
        ),
        *(finalize(billing_db, billing_settings, d.id) for d in drafts[:4]),  # and duplicates
        return_exceptions=True,
    )
    assert sum(isinstance(r, RuntimeError) for r in results) == 1
    await finalize(billing_db, billing_settings, drafts[3].id)
    numbers = [
        n
        for (n,) in await sql(
            billing_db,
            "SELECT number FROM billing.invoices WHERE id = ANY(:ids)",
            ids=[d.id for d in drafts],
        )
    ]
    assert len(set(numbers)) == 8 and all(numbers)
    all_numbers_gapless(
        await sql(
            billing_db,
            "SELECT number FROM billing.invoices WHERE kind = 'invoice' AND status = 'finalized'",
        )
    )


async def test_credit_note_corrects_a_finalized_invoice(
    billing_http, billing_db, billing_settings, admin_headers, person
):
    alice = person()
    _, period = await month_with_usage(billing_db, billing_settings, alice.id)
    invoice = await draft(billing_db, billing_settings, alice.id, period)
    url = f"{API}/admin/invoices/{invoice.id}/credit-notes"
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"amount": 300, "reason": "outage on the 12th"}
    r = await billing_http.post(url, json=body, headers={**admin_headers, **key})
    assert r.status_code == 409  # a draft is not corrected, it is redrafted
    await finalize(billing_db, billing_settings, invoice.id)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    r = await billing_http.post(url, json=body, headers={**admin_headers, **key})
    assert r.status_code == 201, r.text
    note = r.json()
    assert note["kind"] == "credit_note" and note["number"].startswith("CN-")
    assert note["total"] == -300 and note["corrects_invoice_id"] == str(invoice.id)
    replay = await billing_http.post(url, json=body, headers={**admin_headers, **key})
    assert replay.json()["id"] == note["id"]
    assert (await wallet(billing_db, alice.id)).balance == -800 + 300
    r = await billing_http.post(
        url,
        json={"amount": 501, "reason": "too much"},
        headers={**admin_headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 422 and r.json()["error"]["details"]["creditable"] == 500
    assert (await billing_http.post(url, json=body, headers=admin_headers)).status_code == 400


async def test_admin_invoice_run_needs_an_ended_month(billing_http, admin_headers):
    now = datetime.now(UTC)
    url = f"{API}/admin/invoices/runs"
    assert (
        await billing_http.post(url, json={"period": "2020-13"}, headers=admin_headers)
    ).status_code == 422
    r = await billing_http.post(url, json={"period": f"{now:%Y-%m}"}, headers=admin_headers)
    assert r.status_code == 202  # the task refuses a month that has not ended; accepted here
    r = await billing_http.get(
        f"{API}/admin/invoices?status=finalized&size=5", headers=admin_headers
    )
    assert r.status_code == 200


async def test_run_period_drafts_each_active_account_once(billing_db, billing_settings, person):
    alice = person()
    _, period = await month_with_usage(billing_db, billing_settings, alice.id)
    async with billing_db() as session, session.begin():
        assert await invoices.run_period(session, billing_settings, period) >= 1
    async with billing_db() as session, session.begin():
        await invoices.run_period(session, billing_settings, period)
    account = await wallet(billing_db, alice.id)
    [(count,)] = await sql(
        billing_db, "SELECT count(*) FROM billing.invoices WHERE account_id = :a", a=account.id
    )
    assert count == 1
