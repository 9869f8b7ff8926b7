"""VPSes across app nodes, in one process with the TEST DOUBLE of the machine driver: a new
VPS goes to the active node with room for its plan (VPSes and apps share that room), its
operations go to its node's queue and run there, the owner is shown that node's host, a
drained node takes no new VPS, and a node that goes down stops its VPSes and tells billing.
Two real nodes are proven in tests/e2e/test_vps_nodes.py."""

import json
import socket
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from nodes_kit import beat, fresh_node, gone, silence
from sqlalchemy import select, text, update
from vps_kit import API, VpsRunner, act, order, state, vps_events

from berth_deploy.nodes import service as nodes
from berth_deploy.nodes.placement import choose, rooms
from berth_deploy.supervisor.agent import Supervisor
from berth_deploy.vps.models import Vps, VpsOperation

ADMIN = "/api/deploy/v1/admin"
# node X's VPS SSH port pool (it heartbeats it)
X_PORTS = (40100, 40199)
# more than any machine's memory: the test's nodes are the roomiest of the run's nodes
HUGE = 50_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def queued_runs(deploy_node, vps_id: str) -> list[str]:
    """The queues `deploy.vps.run` of this VPS was sent to (deploy's outbox), oldest first."""

    async def read(session):
        rows = await session.execute(
            text(
                "SELECT routing_key, body FROM deploy.outbox "
                "WHERE body LIKE :like ORDER BY created_at, id"
            ),
            {"like": f"%{vps_id}%"},
        )
        return [(key, json.loads(body)) for key, body in rows]

    return [k for k, body in await deploy_node.ctx.tx(read) if body[1].get("vps_id") == vps_id]


async def run_on(node: str, deploy_node, deploy_settings, machine, vps_id: str) -> None:
    """Run the VPS's operations as the worker of `node` does (on an SSH port of its own: no
    other test's test-double machine listens on it)."""

    async def own_port(session):
        await session.execute(
            update(Vps).where(Vps.id == uuid.UUID(vps_id)).values(ssh_port=free_port())
        )

    await deploy_node.ctx.tx(own_port)
    settings = deploy_settings.model_copy(update={"node_name": node})
    await VpsRunner(settings, deploy_node.ctx.tx, machine).run_all(vps_id)


async def admin_view(deploy_http, admin, vps_id: str) -> dict:
    r = await deploy_http.get(f"{ADMIN}/vps/{vps_id}", headers=admin.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def node_free_mb(deploy_node, name: str) -> int:
    return next(r.free_mb for r in await deploy_node.ctx.tx(rooms) if r.node.name == name)


@pytest.fixture
async def two_nodes(deploy_node):
    """Two roomy active nodes of this test (X roomier than Y); silent and down after it, so
    nothing else is placed on them."""
    x, y = fresh_node(), fresh_node()
    await beat(deploy_node, x, host="10.20.0.1", memory_mb=HUGE + 8192, vps_ports=X_PORTS)
    await beat(deploy_node, y, host="10.20.0.2", memory_mb=HUGE)
    yield x, y
    await gone(deploy_node, x, y)


async def test_a_vps_goes_only_to_a_node_that_runs_vpses_and_is_of_its_kind(
    deploy_http, deploy_node, machine, person
):
    """A node heartbeats the kind its machine driver makes (none: it has no driver). A node
    without one gets no VPS however roomy; an order is of the kind of the node it goes to,
    not of the ordering process's driver (a container here)."""
    kvm, none = fresh_node(), fresh_node()
    await beat(deploy_node, kvm, memory_mb=HUGE, vps_ports=X_PORTS, vps_kind="kvm")
    await beat(deploy_node, none, memory_mb=HUGE * 2, vps_kind=None)
    try:
        admin = person(["admin"])
        ordered = (await order(deploy_http, person()))["vps"]
        seen = await admin_view(deploy_http, admin, ordered["id"])
        assert (seen["node"], seen["kind"], machine.kind) == (kvm, "kvm", "container")
    finally:
        await gone(deploy_node, kvm, none)


async def test_a_vps_goes_to_the_node_with_room_and_runs_from_its_queue(
    deploy_http, deploy_node, deploy_settings, machine, person, two_nodes
):
    x, y = two_nodes
    ada, admin = person(), person(["admin"])
    first = (await order(deploy_http, ada))["vps"]
    assert (await admin_view(deploy_http, admin, first["id"]))["node"] == x
    # the owner connects to the host its node heartbeats, not this node's DEPLOY_VPS_SSH_HOST
    assert first["ssh"]["host"] == "10.20.0.1"
    assert first["ssh"]["command"] == f"ssh -p {first['ssh']['port']} root@10.20.0.1"
    # from X's own pool; Y heartbeats none: the ordering process's pool
    assert X_PORTS[0] <= first["ssh"]["port"] <= X_PORTS[1]
    assert await queued_runs(deploy_node, first["id"]) == [f"deploy.node.{x}"]
    # a creating VPS holds its memory on its node: apps and VPSes share the room
    assert await node_free_mb(deploy_node, x) == HUGE + 8192 - first["memory_mb"]

    # the first VPS grows past what Y offers: X has less room left than Y now
    async def grow(session):
        await session.execute(
            update(Vps).where(Vps.id == uuid.UUID(first["id"])).values(memory_mb=HUGE)
        )

    await deploy_node.ctx.tx(grow)
    assert await node_free_mb(deploy_node, x) == 8192
    second = (await order(deploy_http, ada))["vps"]
    assert (await admin_view(deploy_http, admin, second["id"]))["node"] == y
    assert second["ssh"]["host"] == "10.20.0.2"
    low, high = deploy_settings.vps_port_min, deploy_settings.vps_port_max
    assert low <= second["ssh"]["port"] <= high
    assert choose(await deploy_node.ctx.tx(rooms), 512).node.name == y  # an app's too

    # a drained node takes no new VPS, and keeps those it has
    r = await deploy_http.post(f"{ADMIN}/nodes/{y}/drain", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["apps_moving"], r.json()["vps_staying"]) == (0, 1)
    third = (await order(deploy_http, ada))["vps"]
    assert (await admin_view(deploy_http, admin, third["id"]))["node"] != y
    assert (await admin_view(deploy_http, admin, second["id"]))["node"] == y

    # the worker of another node does not run it: the operation is sent on to X's queue
    here = VpsRunner(deploy_settings, deploy_node.ctx.tx, machine)
    assert not await here.run_next(first["id"])
    assert await queued_runs(deploy_node, first["id"]) == [f"deploy.node.{x}"] * 2
    assert (await state(deploy_http, ada, first["id"]))["status"] == "creating"

    await run_on(x, deploy_node, deploy_settings, machine, first["id"])
    assert (await state(deploy_http, ada, first["id"]))["status"] == "running"

    async def lease_node(session):
        stmt = select(VpsOperation.lease_node).where(VpsOperation.vps_id == uuid.UUID(first["id"]))
        return await session.scalar(stmt)

    assert await deploy_node.ctx.tx(lease_node) == x


async def test_a_node_gone_down_stops_its_vpses_and_billing_hears_it(
    deploy_http, deploy_node, deploy_settings, machine, person, two_nodes
):
    x = two_nodes[0]
    ada = person()
    vps = (await order(deploy_http, ada))["vps"]

    await run_on(x, deploy_node, deploy_settings, machine, vps["id"])
    assert (await state(deploy_http, ada, vps["id"]))["status"] == "running"
    [(key, started)] = await vps_events(deploy_node, vps["id"])
    assert key == "deploy.instance.started"
    memory_held = await node_free_mb(deploy_node, x)

    await silence(deploy_node, x, 3600)
    assert x in await deploy_node.ctx.tx(nodes.fail_over_silent, down_after=60)
    after = await state(deploy_http, ada, vps["id"])
    assert after["status"] == "stopped"
    assert after["status_reason"].startswith(f"node {x} is down (no heartbeat for ")
    key, ended = (await vps_events(deploy_node, vps["id"]))[-1]
    assert (key, ended["reason"]) == ("deploy.instance.stopped", "node_down")
    assert ended["instance_id"] == started["instance_id"] and ended["node"] == x
    # its memory is not held any more; a second tick finds nothing more to stop
    assert await node_free_mb(deploy_node, x) == memory_held + vps["memory_mb"]
    assert x not in await deploy_node.ctx.tx(nodes.fail_over_silent, down_after=60)
    assert len(await vps_events(deploy_node, vps["id"])) == 2
    # it cannot start while its disk is on a dead node; deleting it is still asked for
    refused = await act(deploy_http, ada, vps["id"], "start", expect=409)
    assert refused["error"]["code"] == "node_down" and refused["error"]["details"]["node"] == x
    r = await deploy_http.delete(f"{API}/{vps['id']}", headers=ada.headers)
    assert r.status_code == 202, r.text


async def test_liveness_of_a_vps_on_another_node_is_what_its_supervisor_saw(
    deploy_http, deploy_node, deploy_settings, machine, person, two_nodes
):
    x = two_nodes[0]
    ada, admin = person(), person(["admin"])
    vps = (await order(deploy_http, ada))["vps"]
    await run_on(x, deploy_node, deploy_settings, machine, vps["id"])

    async def liveness() -> dict:
        r = await deploy_http.get("/api/deploy/v1/liveness/vps", headers=admin.headers)
        assert r.status_code == 200, r.text
        [mine] = [i for i in r.json()["items"] if i["vps_id"] == vps["id"]]
        return mine

    # this web process's driver cannot see X's machine, and X's supervisor has not looked yet
    assert (await liveness())["state"] == "unknown"
    settings_x = deploy_settings.model_copy(update={"node_name": x})
    supervisor_x = Supervisor(settings_x, deploy_node.worker, deploy_node.ctx, vps_driver=machine)
    await supervisor_x.observe_vpses()
    assert ((await liveness())["state"], (await liveness())["alive"]) == ("running", True)
    # admins see the machine's resource use as X's supervisor measured it
    r = await deploy_http.get(f"/api/deploy/v1/admin/vps/{vps['id']}", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["node"] == x
    assert r.json()["usage"] == machine.usage(uuid.UUID(vps["id"]))
    machine.machines[uuid.UUID(vps["id"])]["state"] = "crashed"  # the hypervisor's word on X
    await supervisor_x.observe_vpses()
    assert ((await liveness())["state"], (await liveness())["alive"]) == ("crashed", False)

    async def stale(session):  # X's supervisor stopped looking
        late = datetime.now(UTC) - timedelta(seconds=deploy_settings.liveness_stale_seconds + 5)
        await session.execute(
            update(Vps).where(Vps.id == uuid.UUID(vps["id"])).values(observed_at=late)
        )

    await deploy_node.ctx.tx(stale)
    assert (await liveness())["state"] == "unknown"
