"""Two app nodes on this machine, each with its own data directory, uid range, port pool and
queue: node A is the platform's deploy worker and supervisor, node B a second worker (on
`deploy.node.<b>` only) and supervisor, as a second host would run them. One Traefik serves
apps on both through its HTTP provider. An app placed on node B is served; a drain of node B
moves its app to node A with no failed request; node B stopped (processes killed, as when
its host dies), its app comes back on node A after the down timeout.

Run: BERTH_E2E_SERVICES=auth,gateway,deploy pytest tests/e2e/test_deploy_nodes.py"""

import os
import signal
import socket
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest
from deploy_e2e import (
    API,
    Hammer,
    deployed,
    kill_apps,
    processes_with,
    sql,
    start_supervisor,
    via_traefik,
)
from deploy_testkit import make_repo, wait_for, web_app_files

from berth_testing.oauth import bearer
from berth_testing.platform import second_node_env

# node A's supervisor marks a node silent this long down (the default is a minute)
DOWN_SECONDS = 5


@pytest.fixture(scope="module")
def nodes(platform, tmp_path_factory, admin_token):
    """Node A (the platform's worker, a supervisor with a short down timeout) and node B."""
    node_a = platform.env.get("DEPLOY_NODE_NAME") or socket.gethostname()
    node_b = f"node-b-{uuid.uuid4().hex[:6]}"
    data_b = tmp_path_factory.mktemp("node-b")
    env_b = second_node_env(node_b, data_b)  # new apps are placed on node B
    supervisor_a = platform.processes.pop("deploy-supervisor", None)
    if supervisor_a is not None:
        supervisor_a.stop()
    start_supervisor(platform, env={"DEPLOY_NODE_DOWN_SECONDS": str(DOWN_SECONDS)})
    platform.start_deploy_node("nodeb", env_b)
    yield {"a": node_a, "b": node_b, "b_dir": data_b, "b_env": env_b}
    for name in ("deploy-nodeb-supervisor", "deploy-nodeb-worker"):
        proc = platform.processes.pop(name, None)
        if proc is not None:
            proc.stop()
    kill_node(data_b)
    # nothing more is placed on node B (its row stays, down or draining)
    with httpx.Client(base_url=platform.public_url, timeout=20) as edge:
        edge.post(f"{API}/admin/nodes/{node_b}/drain", headers=bearer(admin_token))
    kill_apps(platform)


@pytest.fixture(scope="module")
def erin(signed_in):
    return signed_in()


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("repo") / "site", web_app_files("v1"))


def kill_node(data_dir: Path) -> None:
    """SIGKILL every process of the node's apps (their sandboxes mount its data directory)."""
    for pid in processes_with(str(data_dir)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def child_pids(pid: int) -> list[int]:
    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def real_uids(pids: list[int]) -> set[int]:
    found = set()
    for pid in pids:
        try:
            found.add(psutil.Process(pid).uids().real)
        except psutil.NoSuchProcess:
            pass
    return found


def running_on(platform, app_id: str) -> list[str]:
    rows = sql(
        platform,
        "SELECT node FROM deploy.instances WHERE app_id = :app AND status = 'running'",
        app=uuid.UUID(app_id),
    )
    return [node for (node,) in rows]


def node_view(edge, admin_token: str, name: str) -> dict:
    r = edge.get(f"{API}/admin/nodes", headers=bearer(admin_token))
    assert r.status_code == 200, r.text
    [found] = [n for n in r.json()["items"] if n["name"] == name]
    return found


def serves(platform, slug: str) -> bool:
    try:
        r = via_traefik(platform, slug, timeout=2)
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and r.text == "hello v1"


@pytest.fixture(scope="module")
def on_b(nodes, platform, erin, repo):
    """An app deployed while both nodes are active (node B offers more memory)."""
    with httpx.Client(base_url=platform.public_url, timeout=20) as edge:
        return deployed(edge, platform, erin, f"file://{repo}")


def test_an_app_placed_on_node_b_is_served_through_traefik(
    nodes, edge, platform, admin_token, erin, on_b
):
    assert running_on(platform, on_b["id"]) == [nodes["b"]]
    assert serves(platform, on_b["slug"])
    [(node, port)] = sql(
        platform,
        "SELECT node, port FROM deploy.routes WHERE slug = :slug",
        slug=on_b["slug"],
    )
    assert node == nodes["b"] and 24000 <= port <= 24999  # node B's own port pool
    # its release is on node B's disk, and its process runs as a uid of node B's range
    assert (nodes["b_dir"] / "apps" / on_b["id"] / "releases").is_dir()
    [(pid,)] = sql(
        platform,
        "SELECT pid FROM deploy.instances WHERE app_id = :app AND status = 'running'",
        app=uuid.UUID(on_b["id"]),
    )
    uids = real_uids([pid, *child_pids(pid)])
    assert any(uid >= 20_000_000 for uid in uids), uids
    b = node_view(edge, admin_token, nodes["b"])
    assert (b["status"], b["instances"], b["ports_free"]) == ("active", 1, 999)
    assert node_view(edge, admin_token, nodes["a"])["status"] == "active"
    # not an admin: no node list, no drain
    assert edge.get(f"{API}/admin/nodes", headers=erin.headers).status_code == 403
    r = edge.post(f"{API}/admin/nodes/{nodes['b']}/drain", headers=erin.headers)
    assert r.status_code == 403
    r = edge.post(f"{API}/admin/nodes/no-such-node/drain", headers=bearer(admin_token))
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text


def test_a_drain_moves_apps_with_zero_failed_requests(nodes, edge, platform, admin_token, on_b):
    hammer = Hammer(platform, on_b["slug"])
    hammer.start()
    try:
        wait_for(lambda: len(hammer.answers) >= 20, 30, "requests before the drain")
        r = edge.post(f"{API}/admin/nodes/{nodes['b']}/drain", headers=bearer(admin_token))
        assert r.status_code == 200, r.text
        assert r.json()["apps_moving"] == 1 and r.json()["node"]["status"] == "draining"
        wait_for(lambda: running_on(platform, on_b["id"]) == [nodes["a"]], 180, "the app on node A")
        # node B's supervisor stops the old process once node A's rollout ended its instance
        wait_for(lambda: not processes_with(str(nodes["b_dir"])), 60, "node B's process gone")
        served = len(hammer.answers)
        wait_for(lambda: len(hammer.answers) >= served + 20, 30, "requests after the move")
    finally:
        hammer.stopped.set()
        hammer.join(15)
    failed = [a for a in hammer.answers if a != (200, "hello v1")]
    assert not failed, failed[:5]
    assert len(hammer.answers) >= 40
    r = edge.post(f"{API}/admin/nodes/{nodes['b']}/undrain", headers=bearer(admin_token))
    assert r.status_code == 200 and r.json()["status"] == "active", r.text


def test_when_node_b_stops_its_app_comes_back_on_node_a(
    nodes, edge, platform, erin, admin_token, tmp_path
):
    repo = make_repo(tmp_path / "repo", web_app_files("v1"))
    app = deployed(edge, platform, erin, f"file://{repo}")
    assert running_on(platform, app["id"]) == [nodes["b"]]
    for name in ("deploy-nodeb-supervisor", "deploy-nodeb-worker"):
        platform.processes.pop(name).kill()
    kill_node(nodes["b_dir"])  # the host is gone: its apps with it
    stopped = time.monotonic()
    wait_for(lambda: serves(platform, app["slug"]), 240, "the app served again")
    failover = time.monotonic() - stopped
    print(f"\nnode failover: app served again {failover:.1f}s after node B stopped")
    # the route serves the new instance a moment before its row says running
    wait_for(lambda: running_on(platform, app["id"]) == [nodes["a"]], 30, "the app on node A")
    assert node_view(edge, admin_token, nodes["b"])["status"] == "down"
    [(reason,)] = sql(
        platform,
        "SELECT stop_reason FROM deploy.instances WHERE app_id = :app AND node = :node",
        app=uuid.UUID(app["id"]),
        node=nodes["b"],
    )
    assert reason.startswith(f"lost: node {nodes['b']} is down (no heartbeat for ")
    assert failover >= DOWN_SECONDS
