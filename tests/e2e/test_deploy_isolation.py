"""A deployed app is a stranger's code: from inside it, try everything an attacker would.

The app is deployed through Traefik like any other and probed over its own HTTP endpoints
(deploy_testkit.WEB_APP: /connect, /file, /bind, /run). Every cell of the matrix must be
denied: every platform port on loopback (PostgreSQL, the embedded PostgreSQL's port, the
broker, Redis, the SMTP sink, Traefik, every service, another app) by 127.0.0.1, by ::1 and by
this host's own addresses; a private and a link-local (metadata) address served from a network
namespace this test creates, which the host itself can reach; the host's /proc/net. The
isolation never depends on iptables (the machine this runs on in CI has none).
"""

import errno
import ipaddress
import json
import os
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest
from deploy_e2e import deployed, via_traefik
from deploy_testkit import make_repo, web_app_files

from berth_deploy.sandbox import network

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.usefixtures("deploy_node"),
]


@pytest.fixture(scope="module")
def mallory(signed_in):
    return signed_in()


@pytest.fixture(scope="module")
def apps(platform, mallory, tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("repo") / "site", web_app_files("v1"))
    with httpx.Client(base_url=platform.public_url, timeout=20) as edge:
        victim = deployed(edge, platform, mallory, f"file://{repo}")
        attacker = deployed(edge, platform, mallory, f"file://{repo}")
    return victim, attacker


def ask(platform, app: dict, path: str, **params) -> dict:
    r = via_traefik(platform, app["slug"], path, params=params, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def host_addresses() -> list[str]:
    """This machine's own non-loopback IPv4 addresses."""
    out = subprocess.run(
        ["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    return [
        a["local"]
        for link in json.loads(out)
        for a in link.get("addr_info", [])
        if not ipaddress.ip_address(a["local"]).is_loopback
    ]


@contextmanager
def listener(host: str, port: int = 0) -> Iterator[int]:
    """A TCP server on this host that accepts and closes: proof that a port is open."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = socket.socket(family)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, port))
    server.listen()
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        server.close()


# the process serving a port, where its name is not the port's
PORT_PROCESS = {"traefik_api": "traefik", "smtp": "mail", "tickets_inbound": "tickets-inbound"}


def host_connects(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), 2).close()
        return True
    except OSError:
        return False


def test_no_platform_port_is_reachable_from_inside_an_app(platform, apps):
    victim, attacker = apps
    ports = {
        "postgresql": 5432,
        "rabbitmq": 5672,
        "redis": 6379,
        "victim app": victim["instances"][0]["port"],
        # every port of the platform's processes this run started (a port name whose process
        # this run did not start, such as tickets' inbound SMTP, has nothing to reach)
        **{
            name: port
            for name, port in platform.ports.items()
            if PORT_PROCESS.get(name, name) in platform.processes
        },
    }
    # the embedded PostgreSQL of `make run` (55432), or a stand-in where it is not running
    embedded = 0 if host_connects("127.0.0.1", 55432) else 55432
    with ExitStack() as stack:
        try:
            stand_in = stack.enter_context(listener("0.0.0.0", embedded))
        except OSError as busy:  # 55432 is in the ephemeral range: a client socket may hold it
            if busy.errno != errno.EADDRINUSE:
                raise
            stand_in = stack.enter_context(listener("0.0.0.0", 0))
        wildcard6 = stack.enter_context(listener("::", 0))
        if host_connects("127.0.0.1", 55432):  # a server there, ours or make run's
            ports["embedded postgresql"] = 55432
        ports["a stand-in server"] = stand_in
        ports["a server on every interface"] = wildcard6
        for name, port in ports.items():
            assert host_connects("127.0.0.1", port), f"control: {name} is not up on the host"
            for host in ("127.0.0.1", "::1", "localhost", *host_addresses()):
                seen = ask(platform, attacker, "/connect", host=host, port=port)
                assert seen["connected"] is False, (name, host, port, seen)

    # the probe itself works: the app reaches its own port on its own loopback
    own = ask(
        platform, attacker, "/connect", host="127.0.0.1", port=attacker["instances"][0]["port"]
    )
    assert own == {"connected": True}


def test_the_app_sees_its_own_network_only(platform, apps):
    victim, attacker = apps
    tcp = ask(platform, attacker, "/file", p="/proc/net/tcp")
    listening = {
        int(line.split()[1].split(":")[1], 16)
        for line in tcp.splitlines()[1:]
        if line.split()[3] == "0A"
    }
    assert listening == {attacker["instances"][0]["port"]}  # not 5432, 5672, the platform
    assert ask(platform, attacker, "/file", p="/proc/net/if_inet6") in (None, "")

    routes = ask(platform, attacker, "/run", c=json.dumps(["ip", "-j", "route", "show"]))
    assert routes["code"] == 0, routes
    table = json.loads(routes["out"])
    prohibited = {r["dst"] for r in table if r.get("type") == "prohibit"}
    for blocked in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "100.64.0.0/10",
        *(f"{a}" for a in host_addresses()),
    ):
        assert blocked in prohibited or f"{blocked}/32" in prohibited, (blocked, table)
    default = next(r for r in table if r["dst"] == "default")
    assert default["dev"] == network.IFNAME and "gateway" not in default
    v6 = ask(platform, attacker, "/run", c=json.dumps(["ip", "-j", "-6", "addr", "show"]))
    assert not any(link.get("addr_info") for link in json.loads(v6["out"] or "[]")), v6

    # binding a port inside (the victim's, or any) touches no host port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    for port in (victim["instances"][0]["port"], free):
        assert ask(platform, attacker, "/bind", host="0.0.0.0", port=port) == {"bound": True}
    assert not host_connects("127.0.0.1", free)
    assert via_traefik(platform, victim["slug"]).text == "hello v1"


@pytest.fixture
def inner_network() -> Iterator[dict[str, str]]:
    """A network namespace of this test's own, serving a private and a link-local (metadata)
    address over a veth pair: the host reaches both, nothing else is involved."""
    tag = uuid.uuid4().hex[:6]
    ns, host_if, ns_if = f"berth-t-{tag}", f"bt{tag}h", f"bt{tag}n"
    private, metadata = "10.213.77.2", "169.254.169.254"

    def sh(*argv):
        subprocess.run(argv, check=True, capture_output=True)

    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        sh("ip", "link", "set", ns_if, "netns", ns)
        sh("ip", "addr", "add", "10.213.77.1/30", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "route", "add", f"{metadata}/32", "dev", host_if)
        inside = ["ip", "netns", "exec", ns]
        sh(*inside, "ip", "addr", "add", f"{private}/30", "dev", ns_if)
        sh(*inside, "ip", "addr", "add", f"{metadata}/32", "dev", ns_if)
        sh(*inside, "ip", "link", "set", ns_if, "up")
        sh(*inside, "ip", "link", "set", "lo", "up")
        sh(*inside, "ip", "route", "add", "default", "dev", ns_if)
        server = subprocess.Popen(
            [*inside, "python3", "-m", "http.server", "80", "--bind", "0.0.0.0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                if host_connects(private, 80):
                    break
                threading.Event().wait(0.1)
            yield {"private": private, "metadata": metadata}
        finally:
            server.kill()
            server.wait()
    finally:
        subprocess.run(["ip", "route", "del", f"{metadata}/32"], capture_output=True)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_private_and_metadata_addresses_are_refused_before_any_packet_leaves(
    platform, apps, inner_network
):
    _, attacker = apps
    for name, address in inner_network.items():
        assert host_connects(address, 80), f"control: the host reaches the {name} server"
        seen = ask(platform, attacker, "/connect", host=address, port=80)
        assert seen["connected"] is False, (name, seen)
        # EACCES from a `prohibit` route inside the namespace: refused, not timed out
        assert "Permission denied" in seen["error"], seen


class CountingServer:
    """A TCP listener on loopback that counts the connections it gets."""

    def __init__(self) -> None:
        self.accepted = 0
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen()
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
                self.accepted += 1
                conn.close()
            except OSError:
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._server.close()


def test_inward_repository_urls_are_refused_before_any_connection(platform, mallory):
    server = CountingServer()
    try:
        p = server.port
        with httpx.Client(base_url=platform.public_url, timeout=20) as edge:
            for url in (
                f"https://127.0.0.1:{p}/o/r.git",
                f"https://127.1:{p}/o/r.git",
                f"https://2130706433:{p}/o/r.git",
                f"https://0x7f000001:{p}/o/r.git",
                f"https://localhost:{p}/o/r.git",
                f"https://[::1]:{p}/o/r.git",
                f"https://[::ffff:127.0.0.1]:{p}/o/r.git",
                "https://10.0.0.1/o/r.git",
                "https://192.168.0.10/o/r.git",
                "https://169.254.169.254/latest/meta-data/",
                "https://100.100.100.200/o/r.git",
            ):
                r = edge.post(
                    "/api/deploy/v1/apps",
                    json={
                        "slug": f"u-{uuid.uuid4().hex[:8]}",
                        "template": "python-web",
                        "repo_url": url,
                    },
                    headers=mallory.headers,
                )
                assert r.status_code == 422, (url, r.text)
                assert r.json()["error"]["code"] == "repo_not_allowed", (url, r.text)
        assert server.accepted == 0
    finally:
        server.close()
