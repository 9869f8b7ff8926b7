"""App nodes in one process: placement picks the active node with room, the admin node API
(list, drain, undrain; admins only; clear 4xx), the routes Traefik's HTTP provider reads, and
the failover of a silent node (its instances lost, billing told, a deploy of the same commit
queued elsewhere). Two real nodes are proven in tests/e2e/test_deploy_nodes.py."""

import os
import signal
import uuid
from urllib.parse import urlsplit

import pytest
from deploy_testkit import git, make_repo, web_app_files
from fixtures_deploy import API, deployed, outbox_events
from nodes_kit import beat, fresh_node, gone, silence
from pydantic import SecretStr
from sqlalchemy import delete, select, update

from berth_deploy.models import Instance, Operation
from berth_deploy.nodes import routes
from berth_deploy.nodes import service as nodes
from berth_deploy.nodes.models import Node, Route
from berth_deploy.nodes.placement import Room, choose
from berth_deploy.vps.models import Vps


def room(name: str, status: str, free_mb: int, free_ports: int = 10, instances: int = 0) -> Room:
    node = Node(name=name, host="127.0.0.1", memory_mb=8192, cpus=2, port_min=1, port_max=9)
    node.status = status
    return Room(node, free_mb, free_ports, instances)


def test_placement_takes_the_active_node_with_the_most_room():
    candidates = [
        room("a", "active", 900),
        room("b", "active", 4000, instances=3),
        room("c", "draining", 9000),
        room("d", "down", 9000),
        room("e", "active", 8000, free_ports=0),
    ]
    assert choose(candidates, 512).node.name == "b"
    # equal room: fewer instances, then the name
    tie = [room("x", "active", 4000, instances=2), room("w", "active", 4000, instances=2)]
    assert choose([*tie, room("v", "active", 4000, instances=5)], 512).node.name == "w"
    # nothing fits: the roomiest active node still takes it (never stuck)
    assert choose(candidates, 100_000).node.name == "b"
    assert choose([room("c", "draining", 9000), room("d", "down", 9000)], 512) is None


async def test_admins_list_drain_and_undrain_nodes(deploy_http, deploy_node, person):
    admin, ada = person(["admin"]), person()
    name = fresh_node()
    await beat(deploy_node, name)
    r = await deploy_http.get(f"{API}/admin/nodes", headers=admin.headers)
    assert r.status_code == 200, r.text
    [mine] = [n for n in r.json()["items"] if n["name"] == name]
    assert (mine["status"], mine["memory_mb"], mine["memory_free_mb"]) == ("active", 2048, 2048)
    assert (mine["ports_free"], mine["instances"]) == (10, 0)

    for method, path in (("get", ""), ("post", f"/{name}/drain"), ("post", f"/{name}/undrain")):
        r = await getattr(deploy_http, method)(f"{API}/admin/nodes{path}", headers=ada.headers)
        assert r.status_code == 403, r.text

    r = await deploy_http.post(f"{API}/admin/nodes/{name}/drain", headers=admin.headers)
    assert r.status_code == 200, r.text
    drained = r.json()
    assert drained["node"]["status"] == "draining"
    assert (drained["apps_moving"], drained["vps_staying"]) == (0, 0)
    await beat(deploy_node, name)  # a heartbeat does not lift a drain
    r = await deploy_http.post(f"{API}/admin/nodes/{name}/undrain", headers=admin.headers)
    assert (r.status_code, r.json()["status"]) == (200, "active")

    for bad, status, code in (
        ("no-such-node", 404, "not_found"),
        ("a%20b", 422, "validation_error"),
        ("-dash-first", 422, "validation_error"),
    ):
        r = await deploy_http.post(f"{API}/admin/nodes/{bad}/drain", headers=admin.headers)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text

    await silence(deploy_node, name, 3600)
    assert name in await deploy_node.ctx.tx(nodes.fail_over_silent, down_after=60)
    r = await deploy_http.post(f"{API}/admin/nodes/{name}/drain", headers=admin.headers)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "node_down"), r.text
    await beat(deploy_node, name)  # back: active again
    r = await deploy_http.get(f"{API}/admin/nodes", headers=admin.headers)
    assert [n["status"] for n in r.json()["items"] if n["name"] == name] == ["active"]
    await gone(deploy_node, name)  # gone again: nothing is placed on it later


async def test_the_http_provider_renders_every_node_s_routes(
    deploy_http, deploy_app, deploy_node, deploy_settings
):
    near, far = fresh_node(), fresh_node()
    await beat(deploy_node, far, host="10.1.2.3")
    slug_near, slug_far = f"n-{uuid.uuid4().hex[:8]}", f"f-{uuid.uuid4().hex[:8]}"
    id_near, id_far = uuid.uuid4(), uuid.uuid4()
    await deploy_node.ctx.tx(
        routes.put_route,
        slug=slug_near,
        instance_id=id_near,
        node=near,
        host="127.0.0.1",
        port=25001,
    )
    # another node's route with no host given: the node's own, from its heartbeat
    await deploy_node.ctx.tx(
        routes.put_route, slug=slug_far, instance_id=id_far, node=far, host=None, port=25002
    )
    try:
        r = await deploy_http.get("/internal/traefik/routes")
        assert r.status_code == 200, r.text
        config = r.json()["http"]
        servers = {
            name: s["loadBalancer"]["servers"][0]["url"] for name, s in config["services"].items()
        }
        assert servers[f"app-{slug_near}"] == "http://127.0.0.1:25001"
        assert servers[f"app-{slug_far}"] == "http://10.1.2.3:25002"
        probe = config["routers"][f"app-{slug_far}-probe"]
        assert f"Header(`X-Berth-Probe`, `{id_far}`)" in probe["rule"]
        assert await deploy_node.ctx.tx(routes.route_targets, node=far) == {slug_far: str(id_far)}

        deploy_app.state.settings = deploy_settings.model_copy(
            update={"traefik_provider_token": SecretStr("provider-token")}
        )
        r = await deploy_http.get("/internal/traefik/routes")
        assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized")
        wrong = {"Authorization": "Bearer nope"}
        assert (await deploy_http.get("/internal/traefik/routes", headers=wrong)).status_code == 401
        right = {"Authorization": "Bearer provider-token"}
        r = await deploy_http.get("/internal/traefik/routes", headers=right)
        assert r.status_code == 200 and f"app-{slug_far}" in r.json()["http"]["routers"]
    finally:
        deploy_app.state.settings = deploy_settings
        for slug in (slug_near, slug_far):
            await deploy_node.ctx.tx(routes.drop_route, slug=slug)
        await gone(deploy_node, far)  # nothing is placed on it later


@pytest.fixture
async def lost_app(deploy_http, deploy_node, person, tmp_path):
    """A running app whose instance is recorded on a node that has gone silent."""
    repo = make_repo(tmp_path / "repo", web_app_files("v1"))
    ada = person()
    app = await deployed(deploy_http, deploy_node, ada, repo)
    dead = fresh_node()
    await beat(deploy_node, dead)
    instance_id = uuid.UUID(app["instances"][0]["id"])

    async def move(session):
        await session.execute(update(Instance).where(Instance.id == instance_id).values(node=dead))
        await session.execute(update(Route).where(Route.slug == app["slug"]).values(node=dead))
        return (await session.get(Instance, instance_id)).pid

    pid = await deploy_node.ctx.tx(move)
    await silence(deploy_node, dead, 3600)
    yield app, dead, instance_id, git(repo, "rev-parse", "HEAD")
    try:
        os.killpg(pid, signal.SIGKILL)  # the "dead" node's process is this host's
    except ProcessLookupError:
        pass


async def test_a_silent_node_s_apps_are_lost_there_and_deployed_again_elsewhere(
    deploy_node, lost_app
):
    app, dead, instance_id, head = lost_app
    assert dead in await deploy_node.ctx.tx(nodes.fail_over_silent, down_after=60)

    async def read(session):
        instance = await session.get(Instance, instance_id)
        route = await session.get(Route, app["slug"])
        ops = await session.execute(
            select(Operation)
            .where(Operation.app_id == uuid.UUID(app["id"]))
            .order_by(Operation.created_at)
        )
        return instance, route, list(ops.scalars())

    instance, route, ops = await deploy_node.ctx.tx(read)
    assert instance.status == "failed"
    assert instance.stop_reason.startswith(f"lost: node {dead} is down (no heartbeat for ")
    assert route is None  # Traefik stops sending traffic to the dead node
    moved = ops[-1]
    assert (moved.kind, moved.status, moved.origin) == ("deploy", "queued", "admin")
    assert moved.commit_sha == head  # the commit it ran, not whatever the branch has now
    events = await outbox_events(deploy_node, app["id"])
    assert events[-1][0] == "deploy.instance.stopped"
    assert events[-1][1]["reason"] == "node_down"
    # a second supervisor's tick finds nothing more to do
    assert dead not in await deploy_node.ctx.tx(nodes.fail_over_silent, down_after=60)

    await deploy_node.run_all(uuid.UUID(app["id"]))

    async def running(session):
        rows = await session.execute(
            select(Instance.node).where(
                Instance.app_id == uuid.UUID(app["id"]), Instance.status == "running"
            )
        )
        return list(rows.scalars())

    assert await deploy_node.ctx.tx(running) == [deploy_node.settings.node_name]


async def test_the_http_provider_sends_a_vps_console_to_its_node_s_web_process(
    deploy_http, deploy_node, deploy_settings
):
    """A VPS on a node that runs a web process (DEPLOY_NODE_WEB_URL): its console path goes
    there, behind the gateway's check; nothing for a deleted VPS or a node without one."""
    with_web, without = fresh_node(), fresh_node()
    await beat(deploy_node, with_web, host="10.1.2.4", web_url="http://10.1.2.4:8103/")
    await beat(deploy_node, without, host="10.1.2.5")

    def vps(node: str, status: str = "running") -> Vps:
        return Vps(
            owner_id=uuid.uuid4(), name=f"c-{uuid.uuid4().hex[:8]}", plan="vps-1",
            billing_plan_key="vps-1", kind="container", status=status, vcpus=1,
            memory_mb=512, disk_gb=3, ssh_public_key="ssh-ed25519 AAAA t", node=node,
        )  # fmt: skip

    machines = [vps(with_web), vps(with_web, "deleted"), vps(without)]

    async def add(session):
        session.add_all(machines)

    await deploy_node.ctx.tx(add)
    try:
        config = (await deploy_http.get("/internal/traefik/routes")).json()["http"]
        served, deleted, elsewhere = (f"vps-console-{m.id}" for m in machines)
        router = config["routers"][served]
        host = urlsplit(deploy_settings.public_url).hostname
        path = f"/api/deploy/v1/vps/{machines[0].id}/console"
        assert router["rule"] == f"(Host(`{host}`)) && Path(`{path}`)"
        assert router["middlewares"] == ["berth-auth@file"]
        service = config["services"][router["service"]]
        assert service["loadBalancer"]["servers"] == [{"url": "http://10.1.2.4:8103"}]
        assert deleted not in config["routers"] and elsewhere not in config["routers"]
    finally:
        await deploy_node.ctx.tx(
            lambda s: s.execute(delete(Vps).where(Vps.id.in_([m.id for m in machines])))
        )
        await gone(deploy_node, with_web, without)
