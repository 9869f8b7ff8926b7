"""Rules that had two copies and now have one: owing a notice, and 'admins address wallets'."""

import uuid

from fixtures_billing import API, emails_of, sql, top_up

from berth_billing.accounts.dao import AccountDAO
from berth_billing.dunning import service as dunning
from berth_billing.enums import NoticeKind

READY = {"number": "INV-000001", "period": "2024-01", "total": "1.00 EUR"}


async def test_a_notice_is_owed_once_per_key_whichever_rule_owes_it(
    billing_db, billing_settings, person
):
    alice = person()
    key = f"invoice_ready:{uuid.uuid4()}"
    owed = []
    for _ in range(2):
        async with billing_db() as session, session.begin():
            account = await AccountDAO(session).ensure_wallet(alice.id, billing_settings.currency)
            owed.append(
                await dunning.owe_notice(
                    session,
                    billing_settings,
                    account_id=account.id,
                    kind=NoticeKind.INVOICE_READY,
                    key=key,
                    context={**READY, "closing_balance": "0.00 EUR"},
                )
            )
    assert owed == [True, False]
    [mail] = await emails_of(billing_db, account.id)
    assert mail.template == "invoice_ready" and "INV-000001" in mail.subject
    [(kind, context)] = await sql(
        billing_db, "SELECT kind, context FROM billing.notices WHERE key = :k", k=key
    )
    assert kind == "invoice_ready" and context["number"] == "INV-000001"


async def test_admins_reach_wallets_only_not_system_accounts(
    billing_http, billing_settings, billing_db, admin_headers, person
):
    await top_up(billing_http, billing_settings, person(), 500)  # a clearing shard exists
    [(clearing_id,)] = await sql(
        billing_db,
        "SELECT id FROM billing.accounts WHERE kind = 'provider_clearing' AND currency = :c "
        "ORDER BY shard LIMIT 1",
        c=billing_settings.currency,
    )
    base = f"{API}/admin/accounts/{clearing_id}"
    for r in (
        await billing_http.get(base, headers=admin_headers),
        await billing_http.get(f"{base}/ledger", headers=admin_headers),
        await billing_http.post(
            f"{base}/adjustments",
            json={"direction": "credit", "amount": 100, "reason": "test"},
            headers={**admin_headers, "Idempotency-Key": uuid.uuid4().hex},
        ),
    ):
        assert r.status_code == 404, r.text
        assert r.json()["error"]["message"] == "Account not found"
