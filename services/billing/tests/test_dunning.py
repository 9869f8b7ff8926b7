"""Low-balance notices once per crossing, grace period, suspension and its lifting."""

import uuid

import pytest
from fixtures_billing import API, emails_of, outbox_events, sql, top_up, wallet

from berth_billing import mail
from berth_billing.accounts.dao import AccountDAO
from berth_billing.directory import Directory
from berth_billing.dunning import service as dunning
from berth_testing.smtp import start_sink


async def adjust(http, admin_headers, account_id, direction: str, amount: int):
    r = await http.post(
        f"{API}/admin/accounts/{account_id}/adjustments",
        json={"direction": direction, "amount": amount, "reason": "test"},
        headers={**admin_headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text
    return r.json()


async def check(db, settings, account_id, **overrides):
    async with db() as session, session.begin():
        return await dunning.check_accounts(
            session, settings.model_copy(update=overrides), [account_id]
        )


async def test_one_low_balance_notice_per_crossing(
    billing_http, billing_db, billing_settings, admin_headers, person
):
    alice = person()
    await top_up(billing_http, billing_settings, alice, 600)  # above the 500 threshold
    account = await wallet(billing_db, alice.id)
    await adjust(billing_http, admin_headers, account.id, "debit", 200)  # 400: crossed
    await check(billing_db, billing_settings, account.id)
    await check(billing_db, billing_settings, account.id)
    notices = [e for e in await emails_of(billing_db, account.id) if e.template == "low_balance"]
    assert len(notices) == 1
    assert "4.00 EUR" in notices[0].subject

    await top_up(billing_http, billing_settings, alice, 300)  # 700: armed again
    await check(billing_db, billing_settings, account.id)
    assert len(await emails_of(billing_db, account.id)) == 1
    await adjust(billing_http, admin_headers, account.id, "debit", 300)  # 400: second crossing
    await check(billing_db, billing_settings, account.id)
    notices = [e for e in await emails_of(billing_db, account.id) if e.template == "low_balance"]
    assert len(notices) == 2


async def test_negative_balance_grace_then_suspension_and_a_top_up_lifts_it(
    billing_http, billing_db, billing_settings, admin_headers, person
):
    alice = person()
    await top_up(billing_http, billing_settings, alice, 1000)
    account = await wallet(billing_db, alice.id)
    await adjust(billing_http, admin_headers, account.id, "debit", 1500)  # -500

    state = (await billing_http.get(f"{API}/account", headers=alice.headers)).json()
    assert state["state"] == "grace" and state["grace_ends_at"]
    # within the grace period: warned, not suspended
    await check(billing_db, billing_settings, account.id)
    templates = [e.template for e in await emails_of(billing_db, account.id)]
    assert templates.count("grace_warning") == 1
    assert await outbox_events(billing_db, "billing.account.suspended", alice.id) == []

    # the grace period is over
    counts = await check(billing_db, billing_settings, account.id, grace_hours=0)
    assert counts["suspended"] == 1
    await check(billing_db, billing_settings, account.id, grace_hours=0)
    [event] = await outbox_events(billing_db, "billing.account.suspended", alice.id)
    assert event["reason"] == "billing"
    state = (await billing_http.get(f"{API}/account", headers=alice.headers)).json()
    assert state["state"] == "suspended"
    assert [e.template for e in await emails_of(billing_db, account.id)].count("suspended") == 1

    # a top-up that leaves the balance below zero lifts nothing
    await top_up(billing_http, billing_settings, alice, 200)
    assert await outbox_events(billing_db, "billing.account.unsuspended", alice.id) == []
    await top_up(billing_http, billing_settings, alice, 300)  # exactly zero
    [lifted] = await outbox_events(billing_db, "billing.account.unsuspended", alice.id)
    assert lifted["owner_id"] == str(alice.id)
    state = (await billing_http.get(f"{API}/account", headers=alice.headers)).json()
    assert state["state"] == "active" and state["balance"] == 0
    [(open_suspensions,)] = await sql(
        billing_db,
        "SELECT count(*) FROM billing.suspensions WHERE account_id = :a AND lifted_at IS NULL",
        a=account.id,
    )
    assert open_suspensions == 0


@pytest.fixture
def smtp_sink(billing_settings):
    sink, controller = start_sink(billing_settings.smtp_port)
    yield sink
    controller.stop()


async def test_a_notice_is_mailed_once_even_when_its_task_runs_twice(
    billing_http, billing_db, billing_settings, admin_headers, person, smtp_sink
):
    alice = person()
    address = f"alice-{uuid.uuid4().hex[:8]}@example.test"
    async with billing_db() as session, session.begin():
        await AccountDAO(session).ensure_wallet(alice.id, billing_settings.currency, address)
    await top_up(billing_http, billing_settings, alice, 600)
    account = await wallet(billing_db, alice.id)
    await adjust(billing_http, admin_headers, account.id, "debit", 500)
    await check(billing_db, billing_settings, account.id)
    [row] = await emails_of(billing_db, account.id)
    for _ in range(2):  # a redelivered task
        async with billing_db() as session, session.begin():
            status = await mail.send_outgoing_email(
                session, billing_settings, Directory(billing_settings), row.id
            )
        assert status == "sent"
    assert [m["To"] for m in smtp_sink.messages] == [address]
    assert "low" in smtp_sink.messages[0]["Subject"]
