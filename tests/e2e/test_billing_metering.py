"""Metering from deploy's events, through the broker and the real billing worker: an hour is
charged once however often it is run; a balance below zero past the grace period suspends
the owner's apps (the event the deploy service acts on), and a top-up lifts it."""

from datetime import timedelta

from billing_e2e import (
    API,
    EventTap,
    an_hour_of_its_own,
    balance,
    db_now,
    finished_runs,
    instance_events,
    publish_deploy_events,
    run_metering,
    sign_in,
    top_up_via_checkout,
    wait_for_balance,
    wait_for_interval,
)
from frontend_web import WebClient
from support import PASSWORD

from berth_testing.platform import mail_text
from berth_testing.processes import wait_until


def test_deploy_events_are_charged_per_hour_once_however_often_metering_runs(
    edge, platform, register_verified, admin_token, berth_env
):
    db = berth_env["DATABASE_URL"]
    admin = {"Authorization": f"Bearer {admin_token}"}
    alice = sign_in(edge, register_verified())
    plan = "web-small"
    price = next(
        p["amount_per_hour"]
        for p in edge.get(f"{API}/plans", headers=alice.headers).json()
        if p["key"] == plan
    )
    hour = an_hour_of_its_own()
    instance, events = instance_events(
        alice.id, plan, hour + timedelta(minutes=30), hour + timedelta(hours=2)
    )
    publish_deploy_events(platform.env["BROKER_URL"], events)
    wait_for_interval(db, instance)

    since = db_now(db)
    for runs in (3, 6):
        run_metering(edge, admin, hour, 3)
        wait_until(lambda n=runs: finished_runs(db, hour, 3, since) >= n, 60, "metering runs")
    expected = -((price * 30 + 30) // 60 + price)
    assert balance(edge, alice) == expected
    usage = edge.get(f"{API}/account/ledger?kind=usage", headers=alice.headers).json()
    assert sorted(e["amount"] for e in usage["items"]) == sorted(
        [-((price * 30 + 30) // 60), -price]
    )
    assert {e["memo"] for e in usage["items"]} == {
        f"blog · {plan} · 30 min",
        f"blog · {plan} · 60 min",
    }
    if "frontend" in platform.processes:
        # the panel's usage screen: the instance's two hours, each once
        with WebClient(platform.public_url) as web:
            web.login(alice.email, PASSWORD)
            page = web.get("/panel/billing/usage")
        assert page.status_code == 200, page.text[:500]
        assert page.text.count(f'data-instance="{instance}"') == 2


def test_negative_balance_suspends_after_grace_and_a_top_up_lifts_it(
    edge, platform, register_verified, admin_token, berth_env
):
    db = berth_env["DATABASE_URL"]
    admin = {"Authorization": f"Bearer {admin_token}"}
    # this worker sees a grace period of zero
    platform.processes.pop("billing-worker").stop()
    platform.env["BILLING_GRACE_HOURS"] = "0"
    try:
        platform.start_worker("billing")
        alice = sign_in(edge, register_verified())
        top_up_via_checkout(edge, alice, 600)
        wait_for_balance(edge, alice, 600)
        hour = an_hour_of_its_own()
        instance, events = instance_events(
            alice.id, "agent-small", hour - timedelta(days=10), hour + timedelta(hours=1)
        )
        with EventTap(platform.env["BROKER_URL"], "billing.account.*") as tap:
            publish_deploy_events(platform.env["BROKER_URL"], events)
            wait_for_interval(db, instance)
            # ten days of an agent at 5/h: 1200, more than the 600 paid
            since = db_now(db)
            run_metering(edge, admin, hour - timedelta(days=10), 240)
            suspended = tap.wait_for("billing.account.suspended", alice.id, timeout=120)
            assert suspended["reason"] == "billing"
            assert balance(edge, alice) < 0
            state = edge.get(f"{API}/account", headers=alice.headers).json()
            assert state["state"] == "suspended"

            # every hour charged, then the person pays what they owe
            wait_until(
                lambda: finished_runs(db, hour - timedelta(days=10), 240, since) >= 240, 180, "runs"
            )
            owed = -balance(edge, alice)
            top_up_via_checkout(edge, alice, max(owed, 100))
            lifted = tap.wait_for("billing.account.unsuspended", alice.id)
            assert lifted["owner_id"] == alice.id
            assert len(tap.of("billing.account.suspended", alice.id)) == 1
        assert edge.get(f"{API}/account", headers=alice.headers).json()["state"] == "active"

        subjects = [m["Subject"] for m in platform.wait_for_mail(alice.email, count=3)]
        wait_until(
            lambda: any("suspended" in m["Subject"] for m in platform.mails(alice.email)),
            60,
            "suspension mail",
        )
        bodies = [mail_text(m) for m in platform.mails(alice.email)]
        assert any("grace period" in b for b in bodies), subjects
    finally:
        platform.processes.pop("billing-worker").stop()
        platform.env.pop("BILLING_GRACE_HOURS", None)
        platform.start_worker("billing")
