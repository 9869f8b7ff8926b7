"""The VPS pages over a stand-in for deploy: the list, the order form with the plans' prices,
a machine's page (kind said plainly, the ssh command, actions, snapshots, operations with
their step), the console page (xterm.js, a fresh console token per load, its own CSP), and
the admin's list of every VPS and the console audit."""

from typing import Any

from frontend_testkit import StandIn
from test_pages_over_a_stand_in import _sign_in, frontend_over

VPS_ID = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
SNAP_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
OWNER = "3f0c6a52-8d1e-4b8e-9a55-2b0f6c1d7e90"
API = "/api/deploy/v1/vps"
ME = {"/api/auth/v1/me": (200, {"name": "Ada", "email": "ada@example.test"})}


def machine(**extra: Any) -> dict[str, Any]:
    return {
        "id": VPS_ID,
        "owner_id": OWNER,
        "name": "web-1",
        "hostname": "web-1",
        "plan": "vps-1",
        "kind": "kvm",
        "image": "debian-12",
        "status": "running",
        "status_reason": None,
        "suspended_by": None,
        "vcpus": 1,
        "memory_mb": 1024,
        "disk_gb": 10,
        "ssh": {
            "host": "localhost",
            "port": 22022,
            "user": "root",
            "command": "ssh -p 22022 root@localhost",
        },
        "active_operation_id": None,
        "created_at": "2026-11-30T05:00:00Z",
        "updated_at": "2026-11-30T05:00:00Z",
        **extra,
    }


PLANS = [
    {
        "key": "vps-1",
        "name": "VPS 1",
        "vcpus": 1,
        "memory_mb": 1024,
        "disk_gb": 10,
        "max_vcpus": 2,
        "max_memory_mb": 2048,
        "max_disk_gb": 20,
        "billing_plan_key": "vps-1",
        "amount_per_hour": 1,
        "currency": "EUR",
    },
    {
        "key": "vps-2",
        "name": "VPS 2",
        "vcpus": 2,
        "memory_mb": 2048,
        "disk_gb": 20,
        "max_vcpus": 4,
        "max_memory_mb": 4096,
        "max_disk_gb": 40,
        "billing_plan_key": "vps-2",
        "amount_per_hour": None,
        "currency": None,
    },
]
OPERATION = {
    "id": "op1",
    "vps_id": VPS_ID,
    "kind": "snapshot",
    "status": "running",
    "step": "pausing the guest",
    "reason": None,
    "params": {},
    "origin": "user",
    "attempt": 1,
    "created_at": "2026-11-30T05:01:00Z",
    "started_at": None,
    "finished_at": None,
}
SNAPSHOT = {
    "id": SNAP_ID,
    "vps_id": VPS_ID,
    "name": "before-upgrade",
    "status": "ready",
    "size_bytes": 5242880,
    "error": None,
    "created_at": "2026-11-30T05:02:00Z",
    "ready_at": "2026-11-30T05:02:05Z",
}


def page_of(items: list[Any]) -> tuple[int, dict[str, Any]]:
    return 200, {"items": items, "total": len(items), "page": 1, "size": 20, "pages": 1}


def answers(**vps_extra: Any) -> dict[str, Any]:
    return {
        **ME,
        API: page_of([machine(**vps_extra)]),
        f"{API}/plans": (200, PLANS),
        f"{API}/{VPS_ID}": (200, machine(**vps_extra)),
        f"{API}/{VPS_ID}/operations": page_of([OPERATION]),
        f"{API}/{VPS_ID}/snapshots": (200, [SNAPSHOT]),
    }


def _headers(page: str) -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": page.split('"X-CSRF-Token": "')[1][:64]}


async def test_the_list_and_the_machine_page_say_what_it_is(
    frontend_settings, public_jwks, signing_jwks
):
    with StandIn(answers()) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            _sign_in(client, signing_jwks)
            listed = (await client.get("/panel/vps")).text
            page = (await client.get(f"/panel/vps/{VPS_ID}")).text
            container = await client.get(f"/panel/vps/{VPS_ID}")
    assert f'data-vps="{VPS_ID}"' in listed and "KVM virtual machine" in listed
    assert "ssh -p 22022 root@localhost" in listed
    assert 'data-kind="kvm"' in page and "its own kernel" in page
    assert 'id="ssh-command">ssh -p 22022 root@localhost<' in page
    assert f'href="/panel/vps/{VPS_ID}/console"' in page
    for action in ("reboot", "reset", "stop", "poweroff", "reinstall", "delete"):
        assert f'hx-post="/partials/vps/{VPS_ID}/{action}"' in page, action
    assert f"/partials/vps/{VPS_ID}/snapshots/{SNAP_ID}/restore" in page
    assert "before-upgrade" in page and "5.0 MB" in page
    assert "snapshot · running" in page and "pausing the guest…" in page
    assert 'max="2"' in page and "up to 2 vCPU, 2048 MB RAM, 20 GB disk" in page
    assert container.status_code == 200


async def test_a_container_vps_says_so_and_a_stopped_one_offers_start_not_console(
    frontend_settings, public_jwks, signing_jwks
):
    with StandIn(
        answers(
            kind="container",
            status="stopped",
            ssh={"host": "localhost", "port": None, "user": "root", "command": None},
        )
    ) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            _sign_in(client, signing_jwks)
            page = (await client.get(f"/panel/vps/{VPS_ID}")).text
    assert 'data-kind="container"' in page and "shares the node&#39;s kernel" in page
    assert f'hx-post="/partials/vps/{VPS_ID}/start"' in page
    assert f"/panel/vps/{VPS_ID}/console" not in page
    assert f'hx-post="/partials/vps/{VPS_ID}/reboot"' not in page


async def test_ordering_checks_the_form_and_sends_the_order(
    frontend_settings, public_jwks, signing_jwks
):
    created = {"vps": machine(status="creating"), "operation": {**OPERATION, "kind": "create"}}
    refusal = {
        "error": {
            "code": "validation_error",
            "message": "Invalid request",
            "details": [
                {"loc": ["body", "ssh_public_key"], "msg": "not an SSH public key", "type": "x"}
            ],
        }
    }
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG2T9ZL0hQfGQWJxv9U4W4rYx8Y8jQ5cU9l2k1y0j5Fv ada@laptop"
    bodies = []

    def order(_query):
        return (202, created) if len(bodies) else (422, refusal)

    with StandIn({**answers(status="creating"), f"POST {API}": order}) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            _sign_in(client, signing_jwks)
            form = (await client.get("/panel/vps/new")).text
            assert 'data-plan="vps-1"' in form and "0.01 EUR / hour" in form
            assert "price from billing unavailable" in form
            headers = _headers(form)
            empty = await client.post("/partials/vps", data={"plan": "vps-1"}, headers=headers)
            assert empty.status_code == 200 and "This field is required." in empty.text
            assert stand_in.bodies == []  # nothing sent for an incomplete form
            bad = await client.post(
                "/partials/vps",
                data={"plan": "vps-1", "name": "web-1", "ssh_public_key": "nope"},
                headers=headers,
            )
            assert "not an SSH public key" in bad.text
            bodies.append(1)
            done = await client.post(
                "/partials/vps",
                data={"plan": "vps-1", "name": "Web-1", "ssh_public_key": key},
                headers=headers,
            )
    assert "web-1 ordered" in done.text
    assert 'hx-trigger="every 2s"' in done.text  # creating: the status refreshes itself
    assert stand_in.bodies[-1] == {"name": "web-1", "plan": "vps-1", "ssh_public_key": key}


async def test_actions_resize_and_snapshots_go_to_deploy(
    frontend_settings, public_jwks, signing_jwks
):
    accepted = (202, OPERATION)
    routes = {
        **answers(),
        f"POST {API}/{VPS_ID}/actions/stop": accepted,
        f"POST {API}/{VPS_ID}/actions/reset": accepted,
        f"POST {API}/{VPS_ID}/resize": (
            409,
            {"error": {"code": "over_plan", "message": "vcpus: at most 2 on this plan"}},
        ),
        f"POST {API}/{VPS_ID}/snapshots": (202, {"snapshot": SNAPSHOT, "operation": OPERATION}),
        f"POST {API}/{VPS_ID}/snapshots/{SNAP_ID}/restore": accepted,
        f"DELETE {API}/{VPS_ID}/snapshots/{SNAP_ID}": accepted,
    }
    with StandIn(routes) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            _sign_in(client, signing_jwks)
            headers = _headers((await client.get(f"/panel/vps/{VPS_ID}")).text)
            base = f"/partials/vps/{VPS_ID}"
            off = await client.post(f"{base}/poweroff", headers=headers)
            assert "Power-off queued." in off.text
            reset = await client.post(f"{base}/reset", headers=headers)
            assert "Reset queued" in reset.text
            unknown = await client.post(f"{base}/explode", headers=headers)
            assert unknown.status_code == 404
            too_big = await client.post(f"{base}/resize", data={"vcpus": "8"}, headers=headers)
            assert "at most 2 on this plan" in too_big.text
            junk = await client.post(f"{base}/resize", data={"vcpus": "two"}, headers=headers)
            assert "a whole number" in junk.text
            taken = await client.post(
                f"{base}/snapshots", data={"name": "nightly"}, headers=headers
            )
            assert "Snapshot queued" in taken.text
            back = await client.post(f"{base}/snapshots/{SNAP_ID}/restore", headers=headers)
            assert "Restore queued" in back.text
            gone = await client.post(f"{base}/snapshots/{SNAP_ID}/delete", headers=headers)
            assert "Snapshot deletion queued." in gone.text
    assert stand_in.bodies == [{"hard": True}, None, {"vcpus": 8}, {"name": "nightly"}, None]
    assert f"DELETE {API}/{VPS_ID}/snapshots/{SNAP_ID}" in stand_in.asked


async def test_the_console_page_mints_a_token_per_load(
    frontend_settings, public_jwks, signing_jwks
):
    tokens = iter(["bvc_first", "bvc_second"])

    def mint(_query):
        return 201, {"token": next(tokens), "url": "ws://x", "expires_at": "2026-11-30T05:00:30Z"}

    with StandIn({**answers(), f"POST {API}/{VPS_ID}/console-tokens": mint}) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            _sign_in(client, signing_jwks)
            first = await client.get(f"/panel/vps/{VPS_ID}/console")
            second = await client.get(f"/panel/vps/{VPS_ID}/console")
    assert first.status_code == 200
    assert 'data-token="bvc_first"' in first.text and 'data-token="bvc_second"' in second.text
    assert "vendor/xterm.js" in first.text and "vendor/addon-fit.js" in first.text
    assert "js/vps-console.js" in first.text and "vendor/xterm.css" in first.text
    csp = first.headers["content-security-policy"]
    assert "style-src 'self' 'unsafe-inline'" in csp and "script-src 'self';" in csp
    assert first.headers["cache-control"] == "no-store"


async def test_the_console_page_says_why_when_deploy_refuses(
    frontend_settings, public_jwks, signing_jwks
):
    refused = (
        409,
        {
            "error": {
                "code": "console_unavailable",
                "message": "The VPS is suspended: its console opens while it runs",
            }
        },
    )
    routes = {**answers(status="suspended"), f"POST {API}/{VPS_ID}/console-tokens": refused}
    with StandIn(routes) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            _sign_in(client, signing_jwks)
            page = await client.get(f"/panel/vps/{VPS_ID}/console")
            missing = await client.get("/panel/vps/6e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b/console")
    assert page.status_code == 200 and "The VPS is suspended" in page.text
    assert "data-token=" not in page.text
    assert missing.status_code == 404


async def test_admins_see_every_vps_and_the_console_audit(
    frontend_settings, public_jwks, signing_jwks
):
    admin_vps = machine(
        node="node-a",
        run_uid=5000001,
        usage={"cpu_seconds": 12.5, "memory_bytes": 268435456, "disk_bytes": 1073741824},
    )
    session = {
        "id": "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a",
        "vps_id": VPS_ID,
        "user_id": OWNER,
        "client_address": "127.0.0.1",
        "opened_at": "2026-11-30T05:00:00Z",
        "closed_at": "2026-11-30T05:01:30Z",
        "close_code": 4423,
        "close_reason": "suspended",
        "bytes_in": 12,
        "bytes_out": 3400,
        "duration_seconds": 90.0,
    }
    routes = {
        **ME,
        "/api/deploy/v1/admin/vps": page_of([admin_vps]),
        "/api/deploy/v1/admin/vps/console-sessions": page_of([session]),
        f"POST /api/deploy/v1/admin/vps/{VPS_ID}/actions/suspend": (202, OPERATION),
    }
    with StandIn(routes) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            _sign_in(client, signing_jwks, roles=["user", "admin"])
            listed = (await client.get("/admin/vps")).text
            audit = (await client.get(f"/admin/vps/consoles?vps_id={VPS_ID}")).text
            headers = _headers(listed)
            suspended = await client.post(
                f"/admin/partials/vps/{VPS_ID}/suspend", data={"reason": "abuse"}, headers=headers
            )
            _sign_in(client, signing_jwks)
            not_admin = await client.get("/admin/vps")
    assert "node-a" in listed and "12.5 CPU s" in listed and "256 MB RAM" in listed
    assert f'data-vps="{VPS_ID}"' in listed and 'data-kind="kvm"' in listed
    assert 'suspended <span class="muted">(4423)</span>' in audit and "90.0 s" in audit
    assert (
        f"/api/deploy/v1/admin/vps/console-sessions?page=1&size=20&sort=-opened_at&vps_id={VPS_ID}"
        in stand_in.asked
    )
    assert "Suspension queued" in suspended.text and stand_in.bodies == [{"reason": "abuse"}]
    assert not_admin.status_code == 403
