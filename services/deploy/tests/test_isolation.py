"""The sandbox fails closed and keeps the app's env inside it.

- Without pasta (or ip) nothing of the app runs: the launch is refused with a clear reason,
  the build step fails before its command, and a deploy fails with that reason in its log.
- DEPLOY_INSECURE_SHARED_NETWORK is the only way around it, and it is loud.
- The app's env reaches the command inside bubblewrap only: a loader variable never acts on
  bubblewrap's own (host-side) loader, and no value shows in a host process's command line.
"""

import asyncio
import ipaddress
import os
import uuid
from pathlib import Path

import pytest
from deploy_testkit import make_repo, web_app_files
from fixtures_deploy import build_log, deployed
from loguru import logger

from berth_deploy.node import build_node_context
from berth_deploy.sandbox.bubblewrap import SandboxUnavailable
from berth_deploy.sandbox.cgroups import Limits
from berth_deploy.sandbox.driver import ProcessSpec
from berth_deploy.sandbox.layout import AppPaths
from berth_deploy.sandbox.local import LocalDriver
from berth_deploy.sandbox.network import NetworkIsolationUnavailable, prohibited

UID = 251_000 + os.getpid() % 1000
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox runs as root")


@pytest.fixture
def paths(deploy_settings) -> tuple[AppPaths, uuid.UUID]:
    app = AppPaths(deploy_settings.data_dir, uuid.uuid4(), UID)
    app.prepare()
    release = uuid.uuid4()
    app.release(release).mkdir(parents=True)
    app.own_release(release)
    return app, release


def spec(paths, release, command, log: Path, env: dict[str, str] | None = None) -> ProcessSpec:
    return ProcessSpec(
        name=f"t-{uuid.uuid4()}",
        command=command,
        mounts=paths.mounts(release),
        env={"PATH": "/usr/bin:/bin", "HOME": "/data", **(env or {})},
        log_path=log,
        uid=UID,
        limits=Limits(128, 500, 64),
    )


@pytest.fixture
def no_pasta(deploy_settings):
    return deploy_settings.model_copy(update={"pasta_path": "berth-no-such-pasta"})


async def test_without_pasta_nothing_starts(no_pasta, paths, tmp_path):
    driver = LocalDriver(no_pasta)
    app, release = paths
    marker = tmp_path / "ran"
    with pytest.raises(NetworkIsolationUnavailable) as refused:
        await driver.launch(spec(app, release, f"touch {marker}", tmp_path / "run.log"))
    assert "pasta" in refused.value.message
    with pytest.raises(SandboxUnavailable):
        await driver.run(spec(app, release, f"touch {marker}", tmp_path / "build.log"))
    assert not marker.exists()


async def test_a_broken_network_stack_ends_the_process_before_its_command(
    deploy_settings, paths, tmp_path
):
    """pasta present but failing (here: /bin/false): the launcher reports, nothing runs."""
    driver = LocalDriver(deploy_settings.model_copy(update={"pasta_path": "false"}))
    app, release = paths
    marker = app.data / "ran"
    with pytest.raises(SandboxUnavailable) as refused:
        await driver.launch(spec(app, release, "touch /data/ran", tmp_path / "run.log"))
    assert "pasta" in refused.value.message
    build = await driver.run(spec(app, release, "touch /data/ran", tmp_path / "build.log"))
    assert await build.wait() == 126
    assert "the sandbox could not be set up" in (tmp_path / "build.log").read_text()
    assert not marker.exists()


async def test_a_deploy_without_isolation_fails_with_the_reason_in_its_log(
    deploy_node, deploy_http, person, tmp_path
):
    repo = make_repo(tmp_path / "repo", web_app_files("v1"))
    ctx = deploy_node.ctx
    broken = LocalDriver(ctx.settings.model_copy(update={"pasta_path": "berth-no-such-pasta"}))
    real, ctx.driver = ctx.driver, broken
    try:
        ada = person()
        app = await deployed(deploy_http, deploy_node, ada, repo)
    finally:
        ctx.driver = real
    assert app["status"] == "failed"
    log = "\n".join(await build_log(deploy_http, ada, app))
    assert "network isolation needs pasta" in log


async def test_the_insecure_setting_is_the_only_way_around_and_it_is_loud(
    deploy_settings, paths, tmp_path
):
    insecure = deploy_settings.model_copy(
        update={"insecure_shared_network": True, "pasta_path": "berth-no-such-pasta"}
    )
    said: list[str] = []
    sink = logger.add(lambda m: said.append(m.record["message"]), level="CRITICAL")
    try:
        node = build_node_context(insecure, tx=None)
    finally:
        logger.remove(sink)
    assert any("DEPLOY_INSECURE_SHARED_NETWORK" in m for m in said)
    app, release = paths
    build = await node.driver.run(
        spec(app, release, "readlink /proc/self/ns/net", tmp_path / "build.log")
    )
    assert await build.wait() == 0
    assert (tmp_path / "build.log").read_text().strip() == os.readlink("/proc/self/ns/net")


def command_lines_with(text: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


async def test_the_apps_env_reaches_only_the_command_inside(deploy_node, paths, tmp_path):
    driver = deploy_node.ctx.driver
    app, release = paths
    secret = f"s3cret-{uuid.uuid4().hex}"
    log = tmp_path / "run.log"
    handle = await driver.launch(
        spec(
            app,
            release,
            'echo "token=$TOKEN"; sleep 30',
            log,
            env={"LD_DEBUG": "files", "TOKEN": secret},
        )
    )
    try:
        for _ in range(100):
            if f"token={secret}" in log.read_text(errors="replace"):
                break
            await asyncio.sleep(0.05)
        text = log.read_text(errors="replace")
        assert f"token={secret}" in text
        assert "needed by /bin/sh" in text  # the loader variable acted inside...
        assert "bwrap" not in text  # ...and never on bubblewrap's own loader
        assert command_lines_with(secret) == []
    finally:
        await driver.stop(handle, 1)
        driver.forget(handle.name)


def test_the_prohibited_networks_cover_the_host_and_every_private_range():
    host = [ipaddress.IPv4Network("203.0.113.7/32"), ipaddress.IPv4Network("203.0.113.0/24")]
    nets = prohibited(["198.51.100.0/24", "fd00::/8"], host)
    for expected in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "203.0.113.7/32",
    ):
        assert expected in nets
    assert all(ipaddress.ip_network(n).version == 4 for n in nets)  # IPv6 is off inside


async def test_admins_are_told_when_isolation_is_off(deploy_settings, public_jwks, person):
    from berth_deploy.main import create_app
    from berth_testing.plugin import app_client, trust_keys

    admin, user = person(["admin"]), person()
    for insecure in (False, True):
        app = create_app(deploy_settings.model_copy(update={"insecure_shared_network": insecure}))
        async with app_client(app) as client:
            trust_keys(app, public_jwks)
            url = "/api/deploy/v1/admin/runtime"
            assert (await client.get(url, headers=user.headers)).status_code == 403
            seen = (await client.get(url, headers=admin.headers)).json()
        assert seen["network_isolation"] is (not insecure)
        assert bool(seen["warnings"]) is insecure
        if insecure:
            assert "DEPLOY_INSECURE_SHARED_NETWORK" in seen["warnings"][0]
