"""On-call dashboards (Flower per queue) are reachable through Traefik for oncall/admin only."""

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
            "celery",
            "-A",
            "berth_auth.worker",
            "flower",
            "--address=127.0.0.1",
            f"--port={port}",
            "--url_prefix=ops/flower/auth",
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
