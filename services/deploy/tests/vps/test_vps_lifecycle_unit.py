"""The VPS state machine through the API, with the TEST DOUBLE of the machine driver
(fake_machine.py): statuses, operations, billing's instance events, snapshots, resize,
owners' isolation, admins' view. The real driver is exercised by tests/e2e/test_vps_lifecycle."""

import asyncio
import uuid

from vps_kit import API, act, ed25519_key, order, private_key_pem, rsa_key, state, vps_events

from berth_deploy.vps.executor import ssh_answers


async def test_order_boot_stop_start_reboot_delete(deploy_http, deploy_node, vps_runner, person):
    ada = person()
    created = await order(deploy_http, ada, name="web-box")
    vps = created["vps"]
    assert (vps["status"], vps["kind"], vps["hostname"]) == ("creating", "container", "web-box")
    assert created["operation"]["kind"] == "create"
    port = vps["ssh"]["port"]
    assert vps["ssh"]["command"] == f"ssh -p {port} root@127.0.0.1"

    await vps_runner.run_all(vps["id"])
    running = await state(deploy_http, ada, vps["id"])
    assert running["status"] == "running"
    assert await ssh_answers("127.0.0.1", port)
    [(key, started)] = await vps_events(deploy_node, vps["id"])
    assert key == "deploy.instance.started"
    assert started["app_id"] is None and started["plan_key"] == "vps-1"
    assert started["owner_id"] == str(ada.id) and started["ssh"]["port"] == port

    await act(deploy_http, ada, vps["id"], "stop", json={"hard": False})
    assert (await state(deploy_http, ada, vps["id"]))["status"] == "stopping"
    await vps_runner.run_all(vps["id"])
    assert (await state(deploy_http, ada, vps["id"]))["status"] == "stopped"
    assert not await ssh_answers("127.0.0.1", port, 1.0)
    key, ended = (await vps_events(deploy_node, vps["id"]))[-1]
    assert (key, ended["reason"]) == ("deploy.instance.stopped", "stopped by user")
    assert ended["instance_id"] == started["instance_id"]

    await act(deploy_http, ada, vps["id"], "start")
    await vps_runner.run_all(vps["id"])
    assert (await state(deploy_http, ada, vps["id"]))["status"] == "running"
    key, again = (await vps_events(deploy_node, vps["id"]))[-1]
    assert key == "deploy.instance.started"
    assert again["instance_id"] != started["instance_id"]  # a new boot, a new billed interval

    for action in ("reboot", "reset"):
        await act(deploy_http, ada, vps["id"], action)
        assert (await state(deploy_http, ada, vps["id"]))["status"] == "rebooting"
        await vps_runner.run_all(vps["id"])
        assert (await state(deploy_http, ada, vps["id"]))["status"] == "running"
    # a reboot keeps the boot's billed interval
    assert (await vps_events(deploy_node, vps["id"]))[-1][1]["instance_id"] == again["instance_id"]

    r = await deploy_http.delete(f"{API}/{vps['id']}", headers=ada.headers)
    assert r.status_code == 202 and r.json()["kind"] == "delete"
    await vps_runner.run_all(vps["id"])
    assert (await deploy_http.get(f"{API}/{vps['id']}", headers=ada.headers)).status_code == 404
    key, gone = (await vps_events(deploy_node, vps["id"]))[-1]
    assert key == "deploy.instance.deleted" and gone["instance_id"] == again["instance_id"]
    ops = await deploy_http.get(f"{API}/{vps['id']}/operations", headers=ada.headers)
    assert ops.status_code == 404


async def test_snapshots_restore_and_resize(deploy_http, vps_runner, machine, person):
    ada = person()
    vps = (await order(deploy_http, ada))["vps"]
    vid = uuid.UUID(vps["id"])
    await vps_runner.run_all(vps["id"])
    machine.machines[vid]["disk"]["/root/note"] = "before"

    r = await deploy_http.post(
        f"{API}/{vps['id']}/snapshots", json={"name": "clean"}, headers=ada.headers
    )
    assert r.status_code == 202, r.text
    snapshot = r.json()["snapshot"]
    assert snapshot["status"] == "creating"
    await vps_runner.run_all(vps["id"])
    [listed] = (await deploy_http.get(f"{API}/{vps['id']}/snapshots", headers=ada.headers)).json()
    assert (listed["status"], listed["name"]) == ("ready", "clean") and listed["size_bytes"] > 0

    machine.machines[vid]["disk"]["/root/note"] = "after"
    r = await deploy_http.post(
        f"{API}/{vps['id']}/snapshots/{snapshot['id']}/restore", headers=ada.headers
    )
    assert r.status_code == 202, r.text
    await vps_runner.run_all(vps["id"])
    assert machine.machines[vid]["disk"]["/root/note"] == "before"
    assert (await state(deploy_http, ada, vps["id"]))["status"] == "running"

    for body, problem in (
        ({"disk_gb": 5}, "only grows"),
        ({"disk_gb": 21}, "up to 20"),
        ({"vcpus": 2}, "up to 1"),
        ({"memory_mb": 4096}, "up to 1024"),
        ({}, "has these sizes"),
    ):
        r = await deploy_http.post(f"{API}/{vps['id']}/resize", json=body, headers=ada.headers)
        assert r.status_code == 422, (body, r.text)
        assert problem in r.json()["error"]["message"]
    r = await deploy_http.post(
        f"{API}/{vps['id']}/resize", json={"disk_gb": 15}, headers=ada.headers
    )
    assert r.status_code == 202, r.text
    await vps_runner.run_all(vps["id"])
    resized = await state(deploy_http, ada, vps["id"])
    assert (resized["disk_gb"], resized["status"]) == (15, "running")
    assert machine.machines[vid]["spec"].disk_gb == 15

    r = await deploy_http.delete(
        f"{API}/{vps['id']}/snapshots/{snapshot['id']}", headers=ada.headers
    )
    assert r.status_code == 202
    await vps_runner.run_all(vps["id"])
    assert (await deploy_http.get(f"{API}/{vps['id']}/snapshots", headers=ada.headers)).json() == []


async def test_another_owner_sees_nothing(deploy_http, vps_runner, person):
    ada, bob, admin = person(), person(), person(["admin"])
    vps = (await order(deploy_http, ada))["vps"]
    await vps_runner.run_all(vps["id"])
    base = f"{API}/{vps['id']}"
    for method, path, body in (
        ("GET", base, None),
        ("DELETE", base, None),
        ("POST", f"{base}/actions/stop", None),
        ("POST", f"{base}/actions/reboot", None),
        ("POST", f"{base}/resize", {"disk_gb": 12}),
        ("GET", f"{base}/snapshots", None),
        ("POST", f"{base}/snapshots", {}),
        ("GET", f"{base}/operations", None),
    ):
        r = await deploy_http.request(method, path, json=body, headers=bob.headers)
        assert r.status_code == 404, (method, path, r.text)
    listed = await deploy_http.get(API, headers=bob.headers)
    assert listed.json()["items"] == []

    admin_view = await deploy_http.get(
        f"/api/deploy/v1/admin/vps/{vps['id']}", headers=admin.headers
    )
    assert admin_view.status_code == 200, admin_view.text
    body = admin_view.json()
    assert body["node"] and body["usage"]["memory_bytes"] == 1024 * 1024 * 1024
    forbidden = await deploy_http.get("/api/deploy/v1/admin/vps", headers=ada.headers)
    assert forbidden.status_code == 403


async def test_bad_orders_are_clear_4xx(deploy_http, deploy_settings, person):
    ada = person()
    good = {"name": "box-one", "plan": "vps-1", "ssh_public_key": ed25519_key()}
    cases = [
        ({"ssh_public_key": private_key_pem()}, "private key"),
        ({"ssh_public_key": rsa_key(1024)}, "at least 2048 bits"),
        ({"ssh_public_key": "ssh-ed25519 AAAAnotbase64!!"}, "not a valid SSH public key"),
        ({"ssh_public_key": "ssh-dss AAAAB3NzaC1kc3M="}, "key type must be"),
        ({"ssh_public_key": ""}, ""),
        ({"name": "Bad_Name"}, "lower-case"),
        ({"name": "admin"}, "reserved"),
        ({"plan": "vps-99"}, "Unknown VPS plan"),
    ]
    for change, words in cases:
        r = await deploy_http.post(API, json={**good, **change}, headers=ada.headers)
        assert r.status_code == 422, (change, r.text)
        assert words in r.text, (change, r.text)
        assert "PRIVATE KEY-----\nb3Bl" not in r.text  # a pasted private key is never echoed
    ok = await deploy_http.post(
        API, json={**good, "ssh_public_key": rsa_key(2048)}, headers=ada.headers
    )
    assert ok.status_code == 202, ok.text
    again = await deploy_http.post(API, json=good, headers=ada.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "vps_name_taken"
    for n in range(deploy_settings.vps_max_per_owner - 1):
        r = await deploy_http.post(API, json={**good, "name": f"box-{n}x"}, headers=ada.headers)
        assert r.status_code == 202, r.text
    over = await deploy_http.post(API, json={**good, "name": "box-over"}, headers=ada.headers)
    assert over.status_code == 409 and over.json()["error"]["code"] == "vps_quota_exceeded"
    vid = ok.json()["vps"]["id"]
    busy = await deploy_http.post(f"{API}/{vid}/actions/reboot", headers=ada.headers)
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "operation_in_progress"
    bad_action = await deploy_http.post(f"{API}/{vid}/actions/explode", headers=ada.headers)
    assert bad_action.status_code == 422
    hard_reboot = await deploy_http.post(
        f"{API}/{vid}/actions/reboot", json={"hard": True}, headers=ada.headers
    )
    assert hard_reboot.status_code in (409, 422)


async def test_a_failed_boot_is_failed_with_its_reason_and_not_billed(
    deploy_http, deploy_node, vps_runner, machine, person
):
    ada = person()
    vps = (await order(deploy_http, ada))["vps"]
    machine.fail["start"] = RuntimeError("qemu exited")
    await vps_runner.run_all(vps["id"])
    failed = await state(deploy_http, ada, vps["id"])
    assert failed["status"] == "failed"
    assert "create failed" in failed["status_reason"] and "RuntimeError" in failed["status_reason"]
    assert await vps_events(deploy_node, vps["id"]) == []
    await act(deploy_http, ada, vps["id"], "start")
    await vps_runner.run_all(vps["id"])
    assert (await state(deploy_http, ada, vps["id"]))["status"] == "running"


async def test_a_dead_workers_operation_is_reaped_and_retried(
    deploy_http, deploy_node, deploy_settings, vps_runner, person
):
    from berth_deploy.vps import leases

    ada = person()
    vps = (await order(deploy_http, ada))["vps"]
    # a worker takes the create and dies at once: its lease lapses
    claim = await deploy_node.ctx.tx(
        leases.acquire,
        vps_id=uuid.UUID(vps["id"]),
        owner="dead-worker",
        node=deploy_settings.node_name,
        lease_seconds=1,
    )
    assert claim is not None and claim.attempt == 1
    assert not await vps_runner.run_next(vps["id"])  # held: nothing else runs meanwhile
    await asyncio.sleep(1.5)
    reaped = await deploy_node.ctx.tx(leases.reap_expired, max_attempts=2)
    assert claim.op_id in reaped
    ops = (await deploy_http.get(f"{API}/{vps['id']}/operations", headers=ada.headers)).json()
    assert ops["items"][0]["status"] == "queued" and "retrying" in ops["items"][0]["reason"]
    await vps_runner.run_all(vps["id"])
    ops = (await deploy_http.get(f"{API}/{vps['id']}/operations", headers=ada.headers)).json()
    assert (ops["items"][0]["status"], ops["items"][0]["attempt"]) == ("succeeded", 2)
    assert (await state(deploy_http, ada, vps["id"]))["status"] == "running"


async def test_billing_suspends_and_brings_back_only_its_own(
    deploy_http, deploy_node, vps_runner, person
):
    from datetime import UTC, datetime, timedelta

    from berth_deploy import suspension

    def at(minutes: int) -> str:
        return (datetime(2031, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)).isoformat()

    ada, admin = person(), person(["admin"])
    running, by_admin = [(await order(deploy_http, ada))["vps"] for _ in range(2)]
    for vps in (running, by_admin):
        await vps_runner.run_all(vps["id"])
    r = await deploy_http.post(
        f"/api/deploy/v1/admin/vps/{by_admin['id']}/actions/suspend",
        json={"reason": "abuse report"},
        headers=admin.headers,
    )
    assert r.status_code == 202, r.text
    await vps_runner.run_all(by_admin["id"])

    payload = {"owner_id": str(ada.id), "reason": "balance below zero", "suspended_at": at(1)}
    await deploy_node.ctx.tx(suspension.account_suspended, payload=payload)
    await vps_runner.run_all(running["id"])
    suspended = await state(deploy_http, ada, running["id"])
    assert (suspended["status"], suspended["suspended_by"]) == ("suspended", "billing")
    key, ended = (await vps_events(deploy_node, running["id"]))[-1]
    assert (key, ended["reason"]) == ("deploy.instance.suspended", "balance below zero")
    refused = await deploy_http.post(f"{API}/{running['id']}/actions/start", headers=ada.headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "vps_suspended"
    no_order = await deploy_http.post(
        API,
        json={"name": "new-one", "plan": "vps-1", "ssh_public_key": ed25519_key()},
        headers=ada.headers,
    )
    assert no_order.status_code == 409 and no_order.json()["error"]["code"] == "account_suspended"

    fresh = {"owner_id": str(ada.id), "unsuspended_at": at(2)}
    await deploy_node.ctx.tx(suspension.account_unsuspended, payload=fresh)
    await vps_runner.run_all(running["id"])
    back = await state(deploy_http, ada, running["id"])
    assert (back["status"], back["suspended_by"]) == ("running", None)
    assert (await vps_events(deploy_node, running["id"]))[-1][0] == "deploy.instance.started"
    assert (await state(deploy_http, ada, by_admin["id"]))["status"] == "suspended"


async def test_monitoring_reads_whether_the_machines_run(deploy_http, vps_runner, machine, person):
    ada, admin = person(), person(["admin"])
    vps = (await order(deploy_http, ada))["vps"]
    await vps_runner.run_all(vps["id"])
    url = "/api/deploy/v1/liveness/vps"
    assert (await deploy_http.get(url, headers=ada.headers)).status_code == 403
    items = (await deploy_http.get(url, headers=admin.headers)).json()["items"]
    [mine] = [i for i in items if i["vps_id"] == vps["id"]]
    assert (mine["state"], mine["alive"]) == ("running", True)
    machine.machines[uuid.UUID(vps["id"])]["state"] = "crashed"  # the hypervisor's word
    items = (await deploy_http.get(url, headers=admin.headers)).json()["items"]
    [mine] = [i for i in items if i["vps_id"] == vps["id"]]
    assert (mine["state"], mine["alive"]) == ("crashed", False)
