"""From inside a VPS (over SSH with the owner's key): no platform port on the host's loopback,
no host address, no private or link-local (metadata) address is reachable. Each refusal is
an immediate error inside the machine's namespace (`prohibit` routes), and a server of this
test on the other side counts that nothing arrived. No packet goes to a real outside address:
the private and metadata addresses are served by a network namespace this test makes."""

import asyncio
import json
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from vps_machine_kit import IMAGES_DIR, make_key, new_spec, ssh, ssh_ok, wait_ssh

from berth_deploy.config import DeploySettings
from berth_deploy.vps.executor import ssh_answers, ssh_probe_host
from berth_deploy.vps.machine import MachineSettings, machine_driver

pytestmark = pytest.mark.timeout(1200)


def host_addresses() -> list[str]:
    out = subprocess.run(
        ["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    return [
        a["local"]
        for link in json.loads(out)
        for a in link.get("addr_info", [])
        if not a["local"].startswith("127.")
    ]


def host_connects(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((host, port)) == 0


class CountingServer:
    """A TCP listener on this host that counts the connections it gets."""

    def __init__(self, host: str = "0.0.0.0") -> None:
        self.accepted = 0
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind((host, 0))
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


@pytest.fixture
def inner_network() -> Iterator[dict[str, str]]:
    """A namespace of this test's own serving a private and the metadata address."""
    tag = uuid.uuid4().hex[:6]
    ns, host_if, ns_if = f"berth-v-{tag}", f"bv{tag}h", f"bv{tag}n"
    private, metadata = "10.213.78.2", "169.254.169.254"

    def sh(*argv):
        subprocess.run(argv, check=True, capture_output=True)

    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        sh("ip", "link", "set", ns_if, "netns", ns)
        sh("ip", "addr", "add", "10.213.78.1/30", "dev", host_if)
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


PROBE = "timeout 8 bash -c 'exec 3<>/dev/tcp/{host}/{port}' 2>&1; echo rc=$?"


async def probe(key, port: int, host: str, target: int) -> str:
    code, out = await ssh(key, port, PROBE.format(host=host, port=target))
    assert code == 0, out
    return out.strip()


async def test_nothing_of_the_platform_or_a_private_network_is_reachable_from_a_vps(
    driver, tmp_path, inner_network
):
    key, public = make_key(tmp_path)
    spec = new_spec(public)
    counting = CountingServer()
    await driver.create(spec)
    try:
        await driver.start(spec)
        await wait_ssh(key, spec.ssh_port)
        for name, address in inner_network.items():
            assert host_connects(address, 80), f"control: the host reaches the {name} server"
        # the host's loopback as the guest could name it: its own loopback, the user-mode
        # stack's host alias (KVM), the host's own addresses; platform ports and ours
        targets = [("127.0.0.1", counting.port), ("10.0.2.2", counting.port)]
        targets += [(a, counting.port) for a in host_addresses()]
        for port in (5432, 5672, 8080):
            targets += [("10.0.2.2", port), *((a, port) for a in host_addresses())]
        targets += [(inner_network["private"], 80), (inner_network["metadata"], 80)]
        for host, port in targets:
            said = await probe(key, spec.ssh_port, host, port)
            assert said.endswith("rc=1"), (host, port, said)  # an error, not a timeout (124)
        assert counting.accepted == 0
        if driver.kind == "container":  # the namespace's routes, as the guest sees them
            routes = await ssh_ok(key, spec.ssh_port, "ip -4 route")
            for network in (
                "10.0.0.0/8",
                "169.254.0.0/16",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "127.0.0.0/8",
            ):
                assert f"prohibit {network}" in routes, routes
            code, out = await ssh(key, spec.ssh_port, "ip route del prohibit 10.0.0.0/8")
            assert code != 0, out  # its root cannot change them
        # the machine's own loopback works (a service of its own on it)
        await ssh_ok(key, spec.ssh_port, "ip -4 addr show lo | grep -q 127.0.0.1")
    finally:
        counting.close()
        await driver.destroy(spec.vps_id)


async def test_the_ssh_forward_listens_on_the_nodes_bind_address(
    base_image, tmp_path, tmp_path_factory
):
    """DEPLOY_VPS_SSH_BIND_ADDRESS: a node people reach directly binds its VPSes' SSH there
    (127.0.0.2 stands in for the node's address), and on no other address."""
    settings = DeploySettings(
        DEPLOY_DATA_DIR=str(tmp_path_factory.mktemp("vps-bind")),
        DEPLOY_ENV_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        vps_ssh_bind_address="127.0.0.2",
        cgroup_parent="berth-test-vps",
    )
    driver = machine_driver(
        settings, MachineSettings(images_dir=IMAGES_DIR, hypervisor="container")
    )
    _, public = make_key(tmp_path)
    spec = new_spec(public)
    await driver.create(spec)
    try:
        await driver.start(spec)
        assert ssh_probe_host(settings) == "127.0.0.2"
        for _ in range(240):
            if await ssh_answers("127.0.0.2", spec.ssh_port, 2):
                break
            await asyncio.sleep(0.5)
        assert await ssh_answers("127.0.0.2", spec.ssh_port, 2)
        assert not host_connects("127.0.0.1", spec.ssh_port)
    finally:
        await driver.destroy(spec.vps_id)
    assert not host_connects("127.0.0.2", spec.ssh_port)
