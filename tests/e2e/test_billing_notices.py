"""Billing's mail through the real worker: a low-balance notice reaches the person, its
address looked up in auth's directory with billing's own service token when billing does
not know it."""

import uuid

from billing_e2e import API, sign_in, sql, top_up_via_checkout, wait_for_balance

from berth_testing.platform import mail_text
from berth_testing.processes import wait_until


def test_low_balance_notice_is_mailed_once_with_the_address_from_auth(
    edge, platform, register_verified, admin_token, berth_env
):
    db = berth_env["DATABASE_URL"]
    alice = sign_in(edge, register_verified())
    top_up_via_checkout(edge, alice, 600)
    wait_for_balance(edge, alice, 600)
    # billing learned the address from auth.user.registered; forget it to go through auth
    wait_until(
        lambda: sql(db, "SELECT email FROM billing.accounts WHERE owner_id = :o", o=alice.id)[0][0],
        60,
        "the wallet's address",
    )
    sql(db, "UPDATE billing.accounts SET email = NULL WHERE owner_id = :o", o=alice.id)
    account = edge.get(f"{API}/account", headers=alice.headers).json()
    admin = {"Authorization": f"Bearer {admin_token}"}
    r = edge.post(
        f"{API}/admin/accounts/{account['id']}/adjustments",
        json={"direction": "debit", "amount": 200, "reason": "late fee"},
        headers={**admin, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text

    def notice() -> list:
        return [m for m in platform.mails(alice.email) if "low" in m["Subject"]]

    wait_until(lambda: len(notice()) == 1, 60, "the low-balance mail")
    assert "4.00 EUR" in mail_text(notice()[0])
    [(email,)] = sql(db, "SELECT email FROM billing.accounts WHERE owner_id = :o", o=alice.id)
    assert email == alice.email
    # a second debit below the threshold is the same crossing: no second notice
    r = edge.post(
        f"{API}/admin/accounts/{account['id']}/adjustments",
        json={"direction": "debit", "amount": 100, "reason": "another fee"},
        headers={**admin, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201
    [(sent,)] = sql(
        db,
        "SELECT count(*) FROM billing.outgoing_emails WHERE account_id = :a AND template = 'low_balance'",
        a=account["id"],
    )
    assert sent == 1
