"""A month's statement end to end: usage metered from deploy's events, the admin's invoice
run through the worker, a numbered statement the person reads and downloads as PDF."""

import random
from datetime import UTC, datetime, timedelta

from billing_e2e import (
    API,
    db_now,
    finished_runs,
    instance_events,
    pdf_text,
    publish_deploy_events,
    run_metering,
    sign_in,
    sql,
    wait_for_interval,
)

from berth_testing.processes import wait_until


def test_monthly_statement_is_numbered_mailed_and_downloadable(
    edge, platform, register_verified, admin_token, berth_env
):
    db = berth_env["DATABASE_URL"]
    admin = {"Authorization": f"Bearer {admin_token}"}
    alice = sign_in(edge, register_verified())
    # 2015-2019: months no other billing test meters (prices are seeded from 2000 on)
    month = datetime(2015, 1, 1, tzinfo=UTC) + timedelta(days=31 * random.randint(0, 57))
    hour = month.replace(day=3, hour=10)
    instance, events = instance_events(alice.id, "n8n-small", hour, hour + timedelta(hours=3))
    publish_deploy_events(platform.env["BROKER_URL"], events)
    wait_for_interval(db, instance)
    since = db_now(db)
    run_metering(edge, admin, hour, 3)
    wait_until(lambda: finished_runs(db, hour, 3, since) >= 3, 60, "metering runs")

    period = f"{hour:%Y-%m}"
    r = edge.post(f"{API}/admin/invoices/runs", json={"period": period}, headers=admin)
    assert r.status_code == 202, r.text

    def statement() -> list:
        return edge.get(f"{API}/invoices", headers=alice.headers).json()["items"]

    wait_until(lambda: len(statement()) == 1, 60, "the finalized statement")
    [invoice] = statement()
    assert invoice["number"].startswith("INV-") and invoice["status"] == "finalized"
    assert invoice["total"] > 0 and invoice["closing_balance"] == -invoice["total"]
    detail = edge.get(f"{API}/invoices/{invoice['id']}", headers=alice.headers).json()
    assert [line["quantity"] for line in detail["lines"]] == ["3.00 h"]
    r = edge.get(f"{API}/invoices/{invoice['id']}/pdf", headers=alice.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert invoice["number"] in pdf_text(r.content)

    # a second run of the month adds nothing
    r = edge.post(f"{API}/admin/invoices/runs", json={"period": period}, headers=admin)
    assert r.status_code == 202
    wait_until(
        lambda: any("statement" in m["Subject"] for m in platform.mails(alice.email)),
        60,
        "the invoice-ready mail",
    )
    [(count,)] = sql(
        db,
        "SELECT count(*) FROM billing.invoices i JOIN billing.accounts a ON a.id = i.account_id "
        "WHERE a.owner_id = :o",
        o=alice.id,
    )
    assert count == 1
