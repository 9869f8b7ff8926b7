"""The local process driver on real processes: the sandbox's limits, detached instances that
record how they ended, build steps killed as a group; and the pure pieces around it (repo
URLs, route files, Procfiles)."""

import asyncio
import ipaddress
import os
import socket
import uuid
from pathlib import Path

import pytest
import yaml

from berth_deploy.operations.rollout import read_procfile
from berth_deploy.sandbox.cgroups import Limits
from berth_deploy.sandbox.driver import ProcessSpec
from berth_deploy.sandbox.git import (
    RepoNotAllowed,
    clone_command,
    clone_failure,
    normalise_repo_url,
    resolve_public,
)
from berth_deploy.sandbox.layout import AppPaths
from berth_deploy.sandbox.local import read_stat
from berth_deploy.sandbox.routes import InvalidRoute, route_config

UID = 250_000 + os.getpid() % 1000


@pytest.fixture
def paths(deploy_settings, tmp_path) -> tuple[AppPaths, uuid.UUID]:
    app = AppPaths(deploy_settings.data_dir, uuid.uuid4(), UID)
    app.prepare()
    release = uuid.uuid4()
    app.release(release).mkdir(parents=True)
    app.own_release(release)
    return app, release


def spec(paths, release, command, log: Path, **limits) -> ProcessSpec:
    return ProcessSpec(
        name=f"t-{uuid.uuid4()}",
        command=command,
        mounts=paths.mounts(release),
        env={"PATH": "/usr/bin:/bin", "HOME": "/data"},
        log_path=log,
        uid=UID,
        limits=Limits(limits.get("memory_mb", 128), 500, limits.get("pids_max", 64)),
    )


async def wait_dead(driver, handle, seconds=20.0):
    for _ in range(int(seconds / 0.05)):
        if not driver.alive(handle):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("process still alive")


async def exit_of(driver, name, seconds=10.0):
    for _ in range(int(seconds / 0.05)):
        status = driver.exit_status(name)
        if status is not None:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError("no exit record")


async def test_a_detached_process_records_its_exit(deploy_node, paths, tmp_path):
    app, release = paths
    driver = deploy_node.ctx.driver
    s = spec(app, release, "echo hello from $(id -u); exit 7", tmp_path / "run.log")
    handle = await driver.launch(s)
    await wait_dead(driver, handle)
    status = await exit_of(driver, s.name)
    assert (status.exit_code, status.oom_killed) == (7, False)
    assert status.describe() == "exited with code 7"
    assert (tmp_path / "run.log").read_text() == f"hello from {UID}\n"
    driver.forget(s.name)


async def test_the_memory_limit_kills_a_greedy_process(deploy_node, paths, tmp_path):
    if not deploy_node.ctx.driver.cgroups.enforced:
        pytest.skip("cgroups are not writable on this machine")
    app, release = paths
    driver = deploy_node.ctx.driver
    greedy = "exec python3 -c 'b = bytearray(400 * 1024 * 1024); print(len(b))'"
    s = spec(app, release, greedy, tmp_path / "run.log", memory_mb=64)
    handle = await driver.launch(s)
    await wait_dead(driver, handle)
    status = await exit_of(driver, s.name)
    assert status.oom_killed is True
    assert "out of memory" in status.describe()


async def test_the_process_limit_stops_a_fork_bomb(deploy_node, paths, tmp_path):
    app, release = paths
    driver = deploy_node.ctx.driver
    bomb = (
        "exec python3 -c '\n"
        "import os, time\n"
        "n = 0\n"
        "try:\n"
        "    while n < 100:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(3)\n"
        "            os._exit(0)\n"
        "        n += 1\n"
        "except OSError:\n"
        '    print("forks refused after", n, flush=True)\n'
        "'"
    )
    s = spec(app, release, bomb, tmp_path / "run.log", pids_max=20)
    proc = await driver.run(s)
    await asyncio.wait_for(proc.wait(), 30)
    driver.kill_group(proc.pid)
    driver.forget(s.name)
    words = (tmp_path / "run.log").read_text().split()
    assert words[:3] == ["forks", "refused", "after"]
    assert int(words[3]) < 20


async def test_a_build_step_dies_as_a_group(deploy_node, paths, tmp_path):
    app, release = paths
    driver = deploy_node.ctx.driver
    s = spec(app, release, "sleep 300 & sleep 301 & wait", tmp_path / "build.log")
    proc = await driver.run(s)
    await asyncio.sleep(0.5)
    members = [p for p in os.listdir("/proc") if p.isdigit() and _pgid(int(p)) == proc.pid]
    assert len(members) >= 3
    driver.kill_group(proc.pid)
    await asyncio.wait_for(proc.wait(), 10)
    await asyncio.sleep(0.2)
    assert [p for p in os.listdir("/proc") if p.isdigit() and _pgid(int(p)) == proc.pid] == []
    driver.forget(s.name)


def _pgid(pid: int) -> int | None:
    """The process group of a live process (zombies waiting for init to reap them: None)."""
    stat = read_stat(pid)
    return stat[2] if stat and stat[1] != "Z" else None


@pytest.mark.parametrize(
    ("url", "allow_local", "expected"),
    [
        ("https://git.example/o/r.git", False, "https://git.example/o/r.git"),
        ("file:///srv/repo", True, "file:///srv/repo"),
        ("/srv/repo", True, "file:///srv/repo"),
        ("file:///srv/repo", False, None),
        ("file:///srv/../etc", True, None),
        ("file:///etc/berth", True, None),  # outside the local repository root
        ("file://otherhost/srv/repo", True, None),
        ("ssh://git@host/r.git", True, None),
        ("git@host:o/r.git", True, None),
        ("ext::sh -c id", True, None),
        ("-uhttps://x", True, None),
        ("https://u:p@host/r.git", True, None),
        ("https://host.example/r.git?x=1", True, None),
        ("http://host.example/r.git", True, None),
        # loopback, private, link-local and metadata hosts, in every spelling
        ("https://localhost/o/r.git", False, None),
        ("https://git.localhost/o/r.git", False, None),
        ("https://gitlab.internal/o/r.git", False, None),
        ("https://gitserver/o/r.git", False, None),
        ("https://127.0.0.1/o/r.git", False, None),
        ("https://127.1/o/r.git", False, None),
        ("https://2130706433/o/r.git", False, None),
        ("https://0x7f000001/o/r.git", False, None),
        ("https://017700000001/o/r.git", False, None),
        ("https://10.0.0.1/o/r.git", False, None),
        ("https://172.16.5.4/o/r.git", False, None),
        ("https://192.168.1.1/o/r.git", False, None),
        ("https://169.254.169.254/latest/meta-data", False, None),
        ("https://100.64.0.1/o/r.git", False, None),
        ("https://0.0.0.0/o/r.git", False, None),
        ("https://[::1]/o/r.git", False, None),
        ("https://[fd00::2]/o/r.git", False, None),
        ("https://[fe80::1]/o/r.git", False, None),
        ("https://[::ffff:127.0.0.1]/o/r.git", False, None),
    ],
)
def test_repository_urls(url, allow_local, expected):
    root = Path("/srv") if allow_local else None
    if expected is None:
        with pytest.raises(RepoNotAllowed):
            normalise_repo_url(url, local_root=root)
    else:
        assert normalise_repo_url(url, local_root=root) == expected


@pytest.mark.parametrize(
    ("addresses", "refused"),
    [
        (["127.0.0.1"], True),
        (["93.184.216.34", "10.1.2.3"], True),  # one inward address is enough
        (["::1"], True),
        (["93.184.216.34"], False),
        (["2606:2800:220:1::1"], False),
    ],
)
async def test_a_host_that_resolves_inward_is_refused_before_any_connection(
    monkeypatch, addresses, refused
):
    """DNS decides, not the name: the check runs on every address the name resolves to."""

    async def fake_getaddrinfo(host, port, **kwargs):
        family = {4: socket.AF_INET, 6: socket.AF_INET6}
        return [
            (family[ipaddress.ip_address(a).version], socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "getaddrinfo", fake_getaddrinfo)
    url = "https://git.example.org/o/r.git"
    if refused:
        with pytest.raises(RepoNotAllowed):
            await resolve_public(url, [], required=True)
    else:
        await resolve_public(url, [], required=True)


async def test_an_unresolvable_host_is_refused_at_clone_time_only(monkeypatch):
    async def no_such_host(host, port, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_such_host)
    await resolve_public("https://git.example.org/o/r.git", [], required=False)
    with pytest.raises(RepoNotAllowed):
        await resolve_public("https://git.example.org/o/r.git", [], required=True)


@pytest.mark.parametrize(
    ("output", "said"),
    [
        ("fatal: unable to access 'https://x/': Failed to connect to 10.0.0.1 port 443", "reached"),
        ("fatal: unable to access 'https://x/': Could not resolve host: x", "resolved"),
        (
            "warning: Could not find remote branch nope to clone.\nfatal: Remote branch nope not found",
            "branch",
        ),
        (
            "fatal: unable to access 'https://x/': The requested URL returned error: 301",
            "redirects",
        ),
        ("fatal: repository 'https://x/' not found", "not found"),
        ("fatal: remote error: upload-pack: not our ref " + "f" * 40, "the commit was not found"),
        ("fatal: couldn't find remote ref " + "f" * 40, "the commit was not found"),
        ("error: Server does not allow request for unadvertised object", "commit was not found"),
    ],
)
def test_clone_failures_are_told_without_raw_network_errors(output, said):
    message = clone_failure(output)
    assert said in message
    assert "10.0.0.1" not in message and "port" not in message


def test_the_clone_follows_no_redirect_and_runs_no_hook():
    command = clone_command("https://git.example.org/o/r.git", "main; rm -rf /")
    assert "-c http.followRedirects=false" in command
    assert "-c core.hooksPath=/dev/null" in command
    assert "-c protocol.allow=never" in command
    assert "'main; rm -rf /'" in command  # quoted: a branch is never shell


def test_route_files_are_validated_and_written_atomically(deploy_node, tmp_path):
    instance = uuid.uuid4()
    config = route_config("my-app", "apps.localhost", 21001, instance)
    router = config["http"]["routers"]["app-my-app"]
    assert router["rule"] == "Host(`my-app.apps.localhost`)"
    assert "middlewares" not in router  # public: no forwardAuth
    for slug, domain, port in (
        ("My-App", "apps.localhost", 21001),
        ("a`) || Host(`x", "apps.localhost", 21001),
        ("my-app", "apps.localhost`)", 21001),
        ("my-app", "apps.localhost", 80),
    ):
        with pytest.raises(InvalidRoute):
            route_config(slug, domain, port, instance)
    # another node's instance: Traefik goes to that node's host
    servers = [{"url": "http://10.1.2.3:21001"}]
    remote = route_config("my-app", "apps.localhost", 21001, instance, "10.1.2.3")
    assert remote["http"]["services"]["app-my-app"]["loadBalancer"]["servers"] == servers
    for host in ("node`b", "a b", "", "http://x"):
        with pytest.raises(InvalidRoute):
            route_config("my-app", "apps.localhost", 21001, instance, host)

    from berth_deploy.sandbox.routes import FileRouteTable

    table = FileRouteTable(tmp_path, "apps.localhost", "http://127.0.0.1:1")
    asyncio.run(table.publish("my-app", 21001, instance))
    assert [p.name for p in tmp_path.iterdir()] == ["app-my-app.yml"]
    assert yaml.safe_load(table.path("my-app").read_text()) == config
    assert asyncio.run(table.published()) == {"my-app": str(instance)}
    asyncio.run(table.remove("my-app", uuid.uuid4()))  # another instance's: kept
    assert asyncio.run(table.published()) == {"my-app": str(instance)}
    asyncio.run(table.remove("my-app"))
    assert asyncio.run(table.published()) == {}


def test_a_procfile_is_never_read_through_a_symlink(tmp_path):
    secret = tmp_path / "platform-secret"
    secret.write_text("web: SECRET=hunter2\n")
    release = tmp_path / "release"
    release.mkdir()
    (release / "Procfile").symlink_to(secret)
    assert read_procfile(release) == {}
    (release / "Procfile").unlink()
    (release / "Procfile").write_text("web: gunicorn app:app\nworker: python bot.py\n")
    assert read_procfile(release) == {"web": "gunicorn app:app", "worker": "python bot.py"}
