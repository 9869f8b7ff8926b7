"""Billing and deploy together, with nothing published by hand: a running app is metered from
deploy's own events; a balance below zero (past a zero grace period) suspends the app through
billing's event and deploy's handler; paying what is owed brings it back online."""

import sys
import uuid

import pytest
from billing_e2e import API as BILLING
from billing_e2e import balance, top_up_via_checkout, wait_for_balance
from billing_e2e import sql as billing_sql
from deploy_e2e import (
    deployed,
    get_app,
    sign_in,
    via_traefik,
)
from deploy_testkit import make_repo, wait_for, web_app_files

from berth_testing.processes import ManagedProcess


@pytest.fixture(scope="module", autouse=True)
def node(request, platform):
    if "deploy" not in platform.processes or "billing" not in platform.processes:
        pytest.skip("needs billing and deploy in the platform (BERTH_E2E_SERVICES)")
    request.getfixturevalue("deploy_node")


@pytest.fixture
def zero_grace(platform, tmp_path):
    """Billing's worker with a zero grace period, and its beat, whose periodic balance check
    turns an expired grace period into a suspension (as under `make run`)."""
    platform.processes.pop("billing-worker").stop()
    platform.env["BILLING_GRACE_HOURS"] = "0"
    platform.start_worker("billing")
    beat = ManagedProcess(
        "billing-beat",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "berth_billing.worker",
            "beat",
            "-s",
            str(tmp_path / "celerybeat-billing"),
        ],
        env=platform.env,
        log_dir=platform.logs,
        cwd=platform.root,
    ).start()
    yield
    beat.stop()
    platform.processes.pop("billing-worker").stop()
    platform.env.pop("BILLING_GRACE_HOURS", None)
    platform.start_worker("billing")


def test_running_out_of_money_suspends_the_app_and_paying_brings_it_back(
    edge, platform, register_verified, admin_token, zero_grace, tmp_path
):
    db = platform.env["DATABASE_URL"]
    frank = sign_in(edge, register_verified())
    top_up_via_checkout(edge, frank, 500)
    wait_for_balance(edge, frank, 500)
    repo = make_repo(tmp_path / "site", web_app_files("v1"))
    app = deployed(edge, platform, frank, f"file://{repo}")
    assert via_traefik(platform, app["slug"]).text == "hello v1"

    # billing meters the app from deploy's own deploy.instance.started event
    wait_for(
        lambda: (
            billing_sql(
                db,
                "SELECT count(*) FROM billing.usage_intervals WHERE owner_id = :o AND stopped_at IS NULL",
                o=uuid.UUID(frank.id),
            )[0][0]
            == 1
        ),
        60,
        "billing to see the running instance",
    )

    # the balance goes below zero (an admin's debit stands in for a month of usage)
    account = edge.get(f"{BILLING}/account", headers=frank.headers).json()
    r = edge.post(
        f"{BILLING}/admin/accounts/{account['id']}/adjustments",
        json={"direction": "debit", "amount": 800, "reason": "usage owed"},
        headers={"Authorization": f"Bearer {admin_token}", "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text
    assert balance(edge, frank) == -300

    suspended = wait_for(
        lambda: (a := get_app(edge, frank, app["id"]))["status"] == "suspended" and a,
        120,
        "deploy to suspend the app on billing's word",
    )
    assert suspended["suspended_by"] == "billing"
    assert not via_traefik(platform, app["slug"]).text.startswith("hello")
    wait_for(
        lambda: (
            billing_sql(
                db,
                "SELECT count(*) FROM billing.usage_intervals WHERE owner_id = :o AND stopped_at IS NULL",
                o=uuid.UUID(frank.id),
            )[0][0]
            == 0
        ),
        60,
        "billing to stop metering the suspended app",
    )

    # paying what is owed lifts the suspension and the app answers again
    top_up_via_checkout(edge, frank, 300)
    wait_for_balance(edge, frank, 0)
    wait_for(
        lambda: get_app(edge, frank, app["id"])["status"] == "running",
        120,
        "the app to come back",
    )
    wait_for(
        lambda: via_traefik(platform, app["slug"]).text == "hello v1",
        60,
        "the app to answer through Traefik",
    )
