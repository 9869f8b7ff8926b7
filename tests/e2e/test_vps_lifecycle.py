"""A person orders a VPS through Traefik and lives with it: SSH answers with their key and
runs a command, the machine reboots, a snapshot brings back a changed file, the disk grows,
and it is deleted; another person sees none of it. Billing meters its hours from deploy's own
events, suspends it when the balance runs out and brings it back when paid. The real machine
driver (KVM where /dev/kvm works, the container fallback otherwise), the real deploy web,
worker and supervisor, billing's web, worker and beat."""

import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from billing_e2e import API as BILLING
from billing_e2e import (
    an_hour_of_its_own,
    balance,
    run_metering,
    top_up_via_checkout,
    wait_for_balance,
)
from billing_e2e import sql as billing_sql
from deploy_e2e import sign_in
from deploy_testkit import wait_for
from vps_e2e import (
    BOOT_SECONDS,
    FIRST_BOOT_SECONDS,
    VPS,
    act,
    deleted,
    new_key_pair,
    order,
    settled,
    ssh,
    vps_of,
)

from berth_testing.processes import ManagedProcess

pytestmark = pytest.mark.timeout(FIRST_BOOT_SECONDS + 1200)


@pytest.fixture(scope="module", autouse=True)
def node(request, platform):
    if "deploy" not in platform.processes or "billing" not in platform.processes:
        pytest.skip("needs billing and deploy in the platform (BERTH_E2E_SERVICES)")
    request.getfixturevalue("deploy_node")


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory) -> tuple[Path, str]:
    return new_key_pair(tmp_path_factory.mktemp("ssh"))


@pytest.fixture
def zero_grace(platform, tmp_path):
    """Billing's worker with a zero grace period, and its beat (the periodic balance check
    turns a negative balance into a suspension, as under `make run`)."""
    platform.processes.pop("billing-worker").stop()
    platform.env["BILLING_GRACE_HOURS"] = "0"
    platform.start_worker("billing")
    beat = ManagedProcess(
        "billing-beat",
        [sys.executable, "-m", "celery", "-A", "berth_billing.worker", "beat", "-s",
         str(tmp_path / "celerybeat-billing")],
        env=platform.env,
        log_dir=platform.logs,
        cwd=platform.root,
    ).start()  # fmt: skip
    yield
    beat.stop()
    platform.processes.pop("billing-worker").stop()
    platform.env.pop("BILLING_GRACE_HOURS", None)
    platform.start_worker("billing")


def test_a_vps_from_order_to_delete(edge, platform, register_verified, admin_token, key_pair,
                                    zero_grace):  # fmt: skip
    key, public = key_pair
    db = platform.env["DATABASE_URL"]
    ada, bob = sign_in(edge, register_verified()), sign_in(edge, register_verified())
    top_up_via_checkout(edge, ada, 500)
    wait_for_balance(edge, ada, 500)
    admin = {"Authorization": f"Bearer {admin_token}"}

    plans = edge.get(f"{VPS}/plans", headers=ada.headers).json()
    assert {p["key"] for p in plans} >= {"vps-1", "vps-2"}
    assert next(p for p in plans if p["key"] == "vps-1")["amount_per_hour"] is not None

    name = f"box-{uuid.uuid4().hex[:6]}"
    ordered = order(edge, ada, name, public)
    vps_id, port = ordered["vps"]["id"], ordered["vps"]["ssh"]["port"]
    assert ordered["vps"]["status"] == "creating"
    running = settled(edge, ada, vps_id, ordered["operation"], FIRST_BOOT_SECONDS)
    assert running["status"] == "running" and running["kind"] in ("kvm", "container")

    # SSH answers with the owner's key, as root, on the machine named after the order
    out = ssh(key, port, "id -u; hostname; cat /etc/debian_version")
    assert out.returncode == 0, out.stderr
    uid, hostname, debian = out.stdout.split()
    assert (uid, hostname) == ("0", name) and debian.startswith("12")

    # nobody else sees it or acts on it
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/actions/stop"),
                         ("POST", "/actions/reboot"), ("GET", "/snapshots"),
                         ("POST", "/snapshots"), ("GET", "/operations")):  # fmt: skip
        r = edge.request(method, f"{VPS}/{vps_id}{path}", headers=bob.headers)
        assert r.status_code == 404, (method, path, r.text)
    assert edge.get(VPS, headers=bob.headers).json()["items"] == []
    assert edge.get("/api/deploy/v1/admin/vps", headers=ada.headers).status_code == 403
    seen = edge.get(f"/api/deploy/v1/admin/vps/{vps_id}", headers=admin).json()
    assert seen["node"] and seen["kind"] == running["kind"] and seen["usage"]["memory_bytes"] > 0

    # reboot: the machine comes back and answers again (a marker on /run, the tmpfs every
    # boot makes afresh, is gone: true of a KVM guest and of the system container)
    assert ssh(key, port, "touch /run/berth-before-reboot").returncode == 0
    assert settled(edge, ada, vps_id, act(edge, ada, vps_id, "reboot"))["status"] == "running"
    again = ssh(key, port, "test -e /run/berth-before-reboot && echo same || echo rebooted")
    assert again.returncode == 0 and again.stdout.strip() == "rebooted", again

    # snapshot, change a file, restore: the file is back
    assert ssh(key, port, "echo before > /root/mark && sync").returncode == 0
    r = edge.post(f"{VPS}/{vps_id}/snapshots", json={"name": "clean"}, headers=ada.headers)
    assert r.status_code == 202, r.text
    snap = r.json()["snapshot"]
    settled(edge, ada, vps_id, r.json()["operation"])
    assert ssh(key, port, "echo after > /root/mark && sync").returncode == 0
    r = edge.post(f"{VPS}/{vps_id}/snapshots/{snap['id']}/restore", headers=ada.headers)
    assert r.status_code == 202, r.text
    assert settled(edge, ada, vps_id, r.json())["status"] == "running"
    assert ssh(key, port, "cat /root/mark").stdout.strip() == "before"

    # the disk grows within the plan (never shrinks); the guest sees it after the restart
    r = edge.post(f"{VPS}/{vps_id}/resize", json={"disk_gb": 5}, headers=ada.headers)
    assert r.status_code == 422 and "only grows" in r.json()["error"]["message"]
    r = edge.post(f"{VPS}/{vps_id}/resize", json={"disk_gb": 14}, headers=ada.headers)
    assert r.status_code == 202, r.text
    assert settled(edge, ada, vps_id, r.json())["disk_gb"] == 14
    size = ssh(key, port, "df -B1G --output=size / | tail -1").stdout.strip()
    assert int(size) >= 12, size

    # billing meters it from deploy's own instance events (an hour of its own: the interval's
    # start moved back, so a closed hour lies inside it)
    interval, began = wait_for(
        lambda: billing_sql(
            db,
            "SELECT instance_id, started_at FROM billing.usage_intervals WHERE owner_id = :o "
            "AND plan_key = 'vps-1' AND stopped_at IS NULL",
            o=uuid.UUID(ada.id),
        ),
        60,
        "billing to see the running VPS",
    )[0]
    hour = an_hour_of_its_own()
    billing_sql(
        db,
        "UPDATE billing.usage_intervals SET started_at = :s WHERE instance_id = :i",
        s=hour - timedelta(minutes=5),
        i=interval,
    )
    run_metering(edge, admin, hour, 1)
    charge = wait_for(
        lambda: billing_sql(
            db,
            "SELECT minutes, amount, plan_key FROM billing.usage_charges "
            "WHERE instance_id = :i AND hour = :h",
            i=interval,
            h=hour,
        ),
        60,
        "the VPS's hour to be charged",
    )
    assert charge[0][0] == 60 and charge[0][1] > 0 and charge[0][2] == "vps-1"
    # the real start back: an interval open since years ago would lie inside every past hour
    # other tests meter in this database
    billing_sql(
        db,
        "UPDATE billing.usage_intervals SET started_at = :s WHERE instance_id = :i",
        s=began,
        i=interval,
    )

    # the balance runs out: billing suspends the VPS (it stops); paying brings it back
    account = edge.get(f"{BILLING}/account", headers=ada.headers).json()
    owed = balance(edge, ada) + 300
    r = edge.post(
        f"{BILLING}/admin/accounts/{account['id']}/adjustments",
        json={"direction": "debit", "amount": owed, "reason": "usage owed"},
        headers={**admin, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text
    suspended = wait_for(
        lambda: (v := vps_of(edge, ada, vps_id))["status"] == "suspended" and v,
        BOOT_SECONDS,
        "billing's suspension to stop the VPS",
    )
    assert suspended["suspended_by"] == "billing"
    assert ssh(key, port, "true", timeout=30).returncode != 0
    refused = edge.post(f"{VPS}/{vps_id}/actions/start", headers=ada.headers)
    assert refused.status_code == 409
    top_up_via_checkout(edge, ada, 300)
    wait_for(
        lambda: vps_of(edge, ada, vps_id)["status"] == "running",
        BOOT_SECONDS,
        "the VPS to come back once paid",
    )
    assert ssh(key, port, "cat /root/mark").stdout.strip() == "before"

    # deleted: gone for its owner, its port closed
    deleted(edge, ada, vps_id)
    assert ssh(key, port, "true", timeout=30).returncode != 0
