"""A VPS on a second node: node A (the platform's deploy web, worker and supervisor) is
drained, so a VPS ordered through Traefik is made on node B (a worker on `deploy.node.<b>`
only, a supervisor and a deploy web process, with a data directory of its own, as a second
host would run them). Its operation ran on node B's worker, SSH answers on its port (node
B's pool) with the owner's key, its console through Traefik is relayed by node B's web
process (DEPLOY_NODE_WEB_URL), the owner is shown node B's host, and VPS liveness (what
monitoring reads from node A's web process) says what node B's supervisor saw. Node B's
processes killed, node A's supervisor marks it down and the VPS stopped (its disk cannot
move); node B back, the VPS is deleted there. The real machine driver (KVM where /dev/kvm
works, the container fallback otherwise).

Run: BERTH_E2E_SERVICES=auth,gateway,deploy pytest tests/e2e/test_vps_nodes.py"""

import json
import os
import signal
import socket
import uuid

import httpx
import pytest
from deploy_e2e import API, processes_with, sign_in, sql, start_supervisor
from deploy_testkit import wait_for
from vps_e2e import (
    FIRST_BOOT_SECONDS,
    closed_with,
    deleted,
    mint,
    new_key_pair,
    open_console,
    order,
    screen_until,
    settled,
    ssh,
    vps_of,
)

from berth_testing.oauth import bearer
from berth_testing.platform import second_node_env
from berth_testing.processes import free_port

pytestmark = pytest.mark.timeout(FIRST_BOOT_SECONDS + 900)
# node A's supervisor marks a node silent this long down (the default is a minute)
DOWN_SECONDS = 5
NODE_B = ("deploy-nodeb-web", "deploy-nodeb-worker", "deploy-nodeb-supervisor")


def stop_node_b(platform) -> None:
    for name in NODE_B:
        proc = platform.processes.pop(name, None)
        if proc is not None:
            proc.stop()


def lease_node(platform, op_id: str) -> str:
    """The node whose worker ran the VPS operation."""
    [(node,)] = sql(
        platform,
        "SELECT lease_node FROM deploy.vps_operations WHERE id = :op",
        op=uuid.UUID(op_id),
    )
    return node


def machine_state(edge, admin: dict, vps_id: str) -> str | None:
    r = edge.get(f"{API}/liveness/vps", headers=admin)
    assert r.status_code == 200, r.text
    return next((i["state"] for i in r.json()["items"] if i["vps_id"] == vps_id), None)


def node_view(edge, admin: dict, name: str) -> dict | None:
    r = edge.get(f"{API}/admin/nodes", headers=admin)
    assert r.status_code == 200, r.text
    return next((n for n in r.json()["items"] if n["name"] == name), None)


@pytest.fixture(scope="module")
def nodes(platform, tmp_path_factory, admin_token):
    """Node A drained (its supervisor with a short down timeout), node B active."""
    if "deploy" not in platform.processes:
        pytest.skip("needs deploy in the platform (BERTH_E2E_SERVICES)")
    admin = bearer(admin_token)
    node_a = platform.env.get("DEPLOY_NODE_NAME") or socket.gethostname()
    node_b = f"vps-b-{uuid.uuid4().hex[:6]}"
    data_b = tmp_path_factory.mktemp("vps-node-b")
    # node B's own deploy web process: Traefik sends its VPSes' consoles there
    env_b = {
        **second_node_env(node_b, data_b),
        "DEPLOY_NODE_WEB_URL": f"http://127.0.0.1:{free_port()}",
    }
    supervisor_a = platform.processes.pop("deploy-supervisor", None)
    if supervisor_a is not None:
        supervisor_a.stop()
    start_supervisor(platform, env={"DEPLOY_NODE_DOWN_SECONDS": str(DOWN_SECONDS)})
    platform.start_deploy_node("nodeb", env_b)
    with httpx.Client(base_url=platform.public_url, timeout=20) as edge:
        wait_for(
            lambda: node_view(edge, admin, node_a) and node_view(edge, admin, node_b),
            60,
            "both nodes to heartbeat",
        )
        r = edge.post(f"{API}/admin/nodes/{node_a}/drain", headers=admin)
        assert r.status_code == 200, r.text
    yield {"a": node_a, "b": node_b, "b_env": env_b}
    stop_node_b(platform)
    for pid in processes_with(str(data_b)):  # the machine of a test that failed half-way
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    with httpx.Client(base_url=platform.public_url, timeout=20) as edge:
        edge.post(f"{API}/admin/nodes/{node_a}/undrain", headers=admin)
        edge.post(f"{API}/admin/nodes/{node_b}/drain", headers=admin)


def test_a_vps_ordered_while_node_a_is_drained_runs_on_node_b(
    nodes, edge, platform, register_verified, admin_token, tmp_path
):
    admin = bearer(admin_token)
    key, public = new_key_pair(tmp_path)
    ada = sign_in(edge, register_verified())
    name = f"nodeb-{uuid.uuid4().hex[:6]}"
    ordered = order(edge, ada, name, public)
    vps_id, port = ordered["vps"]["id"], ordered["vps"]["ssh"]["port"]
    seen = edge.get(f"{API}/admin/vps/{vps_id}", headers=admin).json()
    assert seen["node"] == nodes["b"]  # node A is drained: no new VPS there
    # the owner connects to the host node B heartbeats
    assert ordered["vps"]["ssh"]["host"] == node_view(edge, admin, nodes["b"])["host"]
    assert 23000 <= port <= 23999  # node B's own VPS port pool (second_node_env)

    running = settled(edge, ada, vps_id, ordered["operation"], FIRST_BOOT_SECONDS)
    assert running["status"] == "running"
    # node B's worker made and booted it
    assert lease_node(platform, ordered["operation"]["id"]) == nodes["b"]
    out = ssh(key, port, "id -u; hostname")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", name]
    # its console, through Traefik, is relayed by node B's web process (the machine's
    # console socket is on node B's disk); a token is still single use
    access = ada.headers["Authorization"].removeprefix("Bearer ")
    minted = mint(platform, vps_id, access)
    assert minted.status_code == 201, minted.text
    token = minted.json()["token"]
    with open_console(platform, vps_id, token, access) as ws:
        assert json.loads(ws.recv(timeout=15))["type"] == "hello"
        screen_until(ws, b":~#", timeout=120, poke=b"\r")  # root's prompt (autologin)
        ws.send(b"echo node-b-console-$((6*7))\r")
        screen_until(ws, b"node-b-console-42")
    with open_console(platform, vps_id, token, access) as ws:
        assert closed_with(ws) == 4403
    # monitoring asks node A's web process: it answers what node B's supervisor saw
    wait_for(
        lambda: machine_state(edge, admin, vps_id) == "running",
        30,
        "node B's supervisor to report the machine running",
    )
    # its memory counts against node B's room, as an app's would
    b = node_view(edge, admin, nodes["b"])
    assert b["memory_free_mb"] <= b["memory_mb"] - running["memory_mb"]

    # node B dies (its worker and supervisor killed): its VPS cannot move without its disk;
    # it is stopped, saying why (and billing hears it stopped)
    stop_node_b(platform)
    stopped = wait_for(
        lambda: (v := vps_of(edge, ada, vps_id))["status"] == "stopped" and v,
        60 + DOWN_SECONDS,
        "node A's supervisor to mark node B down and stop its VPS",
    )
    assert stopped["status_reason"].startswith(f"node {nodes['b']} is down")
    assert node_view(edge, admin, nodes["b"])["status"] == "down"

    # node B back: the VPS's delete runs there, its machine and port are gone
    platform.start_deploy_node("nodeb", nodes["b_env"])
    wait_for(
        lambda: node_view(edge, admin, nodes["b"])["status"] == "active",
        60,
        "node B to heartbeat again",
    )
    assert lease_node(platform, deleted(edge, ada, vps_id)["id"]) == nodes["b"]
    assert ssh(key, port, "true", timeout=30).returncode != 0
