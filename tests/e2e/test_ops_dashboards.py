"""On-call dashboards (Flower per queue) are reachable through Traefik for oncall/admin only."""

import re
import sys

import pytest
from support import PASSWORD

from berth_testing.oauth import bearer, password_login
from berth_testing.processes import ManagedProcess, free_port, http_ok, wait_until


@pytest.fixture(scope="module")
def auth_flower(platform, tmp_path_factory):
    port = free_port()
    proc = ManagedProcess(
        "auth-flower",
        [
            sys.executable,
            "-m",
            "berth_devrun.flowers",  # the Procfile's `flowers` entry, with one queue
            f"auth={port}",
        ],
        env=platform.env_for("auth"),
        log_dir=tmp_path_factory.mktemp("flower"),
        cwd=platform.root,
    ).start()
    proc.wait_ready(http_ok(f"http://127.0.0.1:{port}/ops/flower/auth/healthcheck"), timeout=40)
    # the Traefik route of deploy/traefik/dynamic/ops.yml, pointed at this run's port
    route = (platform.root / "deploy/traefik/dynamic/ops.yml").read_text()
    (platform.dynamic_dir / "ops.yml").write_text(
        route.replace(
            '{{ env "AUTH_FLOWER_URL" | default "http://127.0.0.1:5601" | trimSuffix "/" }}',
            f"http://127.0.0.1:{port}",
        )
    )
    yield proc
    proc.stop()


def test_flower_is_for_oncall_and_admin_only(edge, auth_flower, admin_token, register_verified):
    url = "/ops/flower/auth/healthcheck"
    # Traefik picks up the rewritten route file within a moment
    wait_until(lambda: edge.get(url, headers=bearer(admin_token)).status_code == 200, 15, "route")
    r = edge.get(url, headers=bearer(admin_token))
    assert r.status_code == 200 and r.text == "OK"
    assert edge.get(url).status_code == 401
    email = register_verified()
    user = password_login(edge, email, PASSWORD).json()["access_token"]
    r = edge.get(url, headers=bearer(user))
    assert r.status_code == 403
    r = edge.get("/ops/flower/auth/", headers=bearer(admin_token))
    assert r.status_code == 200 and "Flower" in r.text


def test_every_queue_with_a_worker_has_its_flower_behind_the_ops_route(repo_root):
    """Procfile, Traefik and compose agree: one Flower per service queue at /ops/flower/<q>/."""
    import yaml

    procfile = (repo_root / "Procfile").read_text()
    ops = (repo_root / "deploy/traefik/dynamic/ops.yml").read_text()
    compose = yaml.safe_load((repo_root / "deploy/compose/docker-compose.yml").read_text())
    queues = sorted(
        p.parent.name.removeprefix("berth_") for p in repo_root.glob("services/*/berth_*/worker.py")
    )
    assert {"auth", "billing", "deploy", "monitoring"} <= set(queues)
    [flowers] = [line for line in procfile.splitlines() if line.startswith("flowers:")]
    for queue in queues:
        # the port the combined Flower process gives the queue is the one Traefik's route uses
        port = re.search(
            rf'{queue.upper()}_FLOWER_URL" \| default "http://127.0.0.1:(\d+)"', ops
        ).group(1)
        assert f" {queue}={port}" in flowers, queue
        assert f"PathPrefix(`/ops/flower/{queue}`)" in ops and f"service: flower-{queue}" in ops
        assert f"{queue.upper()}_FLOWER_URL" in ops
        flower = compose["services"][f"{queue}-flower"]
        assert f"--url_prefix=ops/flower/{queue}" in flower["command"], queue
        traefik_env = compose["services"]["traefik"]["environment"]
        assert traefik_env[f"{queue.upper()}_FLOWER_URL"] == f"http://{queue}-flower:5555"
