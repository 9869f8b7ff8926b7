"""The network of a sandboxed process: its own network namespace, reached only through pasta.

Every app instance and every build step (git clone included) runs in a network namespace of
its own, created by the launcher as root (so owned by the host's user namespace: the app,
unprivileged in a user namespace of its own, can change neither its routes nor its
addresses). Inside there is loopback and one tap device served by pasta (Debian `passt`), a
userspace network stack that turns the namespace's connections into ordinary sockets of the
host. The invariants, each enforced before any packet leaves:

- no route to this host: pasta runs with --no-map-gw and with no namespace-to-host port
  forwarding (-T none -U none), so the namespace's 127.0.0.1 is its own loopback, and the
  host's own addresses and the networks it is attached to are `prohibit` routes;
- no route to private, link-local (cloud metadata), CGNAT or reserved networks: `prohibit`
  routes (connect() fails with EACCES inside the namespace, nothing reaches pasta);
- IPv4 only: pasta runs with -4 and IPv6 is disabled in the namespace, so ::1, ULA and
  link-local IPv6 have no path either;
- DNS: one address inside the namespace that pasta maps to the host's resolver (UDP 53);
- inbound: only the instance's port, bound by pasta on DEPLOY_APP_BIND_ADDRESS (the host's
  127.0.0.1 by default; a node's private address when Traefik runs on another host), where
  Traefik and the health checks connect, and spliced to the namespace's loopback.

/proc/net inside shows the namespace, not the host; the app binds whatever it likes there
without touching the host's ports. If any of this cannot be set up the process does not
start (the launcher reports why); only DEPLOY_INSECURE_SHARED_NETWORK turns it off.
"""

import ipaddress
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from berth_deploy.sandbox.bubblewrap import SandboxUnavailable

IFNAME = "tap0"
#: the namespace's own address and the one pasta maps to the host's DNS resolver; both in
#: 100.64.0.0/10 (CGNAT), which is otherwise a prohibited network inside the namespace
ADDRESS = "100.96.0.2"
DNS = "100.96.0.3"

#: what a sandbox may never reach, whatever the operator adds (DEPLOY_BLOCKED_NETWORKS)
ALWAYS_BLOCKED = (
    "0.0.0.0/8",  # "this network"
    "10.0.0.0/8",
    "100.64.0.0/10",  # CGNAT
    "127.0.0.0/8",  # the host's loopback, should a packet ever carry it
    "169.254.0.0/16",  # link-local: cloud metadata (169.254.169.254)
    "172.16.0.0/12",
    "192.0.0.0/24",  # IETF protocol assignments
    "192.168.0.0/16",
    "198.18.0.0/15",  # benchmarking
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, broadcast
)


class NetworkIsolationUnavailable(SandboxUnavailable):
    code = "network_isolation_unavailable"


@dataclass(frozen=True)
class NetworkTools:
    pasta: str
    ip: str


def find_tools(pasta: str, ip: str) -> NetworkTools:
    found = NetworkTools(shutil.which(pasta) or "", shutil.which(ip) or "")
    missing = [
        name for name, path in (("pasta (passt)", found.pasta), ("ip", found.ip)) if not path
    ]
    if missing:
        raise NetworkIsolationUnavailable(
            f"network isolation needs {' and '.join(missing)} on this node "
            "(apt-get install passt iproute2; scripts/install-system-deps.sh does it)"
        )
    return found


def host_networks(ip: str) -> list[ipaddress.IPv4Network]:
    """This host's own IPv4 addresses and the networks its interfaces are attached to."""
    out = subprocess.run(  # noqa: S603 - fixed argv
        [ip, "-j", "-4", "addr", "show"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    found: list[ipaddress.IPv4Network] = []
    for link in json.loads(out or "[]"):
        for addr in link.get("addr_info", []):
            if addr.get("family") != "inet":
                continue
            interface = ipaddress.IPv4Interface(f"{addr['local']}/{addr['prefixlen']}")
            found += [ipaddress.IPv4Network(f"{interface.ip}/32"), interface.network]
    return found


def prohibited(blocked: list[str], host: list[ipaddress.IPv4Network]) -> list[str]:
    """Every IPv4 network to refuse inside a namespace, deduplicated, widest first."""
    nets = {ipaddress.ip_network(n) for n in (*ALWAYS_BLOCKED, *blocked)}
    v4 = {n for n in nets if n.version == 4} | set(host)
    return [str(n) for n in sorted(v4, key=lambda n: (n.prefixlen, n))]


def ip_batch(prohibit: list[str]) -> str:
    """The `ip -batch` commands that configure a fresh namespace once pasta's tap exists."""
    lines = [
        "link set lo up",
        f"link set {IFNAME} up",
        f"addr add {ADDRESS}/32 dev {IFNAME}",
        f"route add {DNS}/32 dev {IFNAME}",
        f"route add default dev {IFNAME}",
        *(f"route add prohibit {network}" for network in prohibit),
    ]
    return "\n".join(lines) + "\n"


def inbound_spec(bind: str, port: int) -> str:
    """pasta's -t spec of one host port: on one address, or on every one (0.0.0.0)."""
    return str(port) if ipaddress.ip_address(bind).is_unspecified else f"{bind}/{port}"


def pasta_argv(
    pasta: str, port: int | None, inner_port: int | None = None, bind: str = "127.0.0.1"
) -> list[str]:
    """pasta for a namespace the launcher hands it as fd 3 (see launcher.start_network).

    It keeps uid 0 (--runas 0) because the namespace belongs to the host's user namespace:
    it then holds only CAP_SYS_ADMIN and CAP_NET_BIND_SERVICE, under its own seccomp filter
    and in mount and user namespaces of its own.
    """
    inbound = inbound_spec(bind, port) if port else "none"
    if port and inner_port and inner_port != port:
        inbound += f":{inner_port}"  # a container listens where its image says
    return [
        pasta,
        "--foreground",
        "--quiet",
        "--runas",
        "0",
        "--netns",
        "/proc/self/fd/3",
        "--ns-ifname",
        IFNAME,
        "--ipv4-only",
        "--no-map-gw",
        "--tcp-ports",
        inbound,
        "--udp-ports",
        "none",
        "--tcp-ns",
        "none",
        "--udp-ns",
        "none",
        "--address",
        ADDRESS,
        "--dns-forward",
        DNS,
        "--no-dhcp",
        "--no-ndp",
        "--no-dhcpv6",
        "--no-ra",
    ]


def resolv_conf() -> str:
    return f"nameserver {DNS}\noptions edns0\n"


@dataclass(frozen=True)
class NetworkPlan:
    """What the launcher needs to give one process its namespace (JSON in its spec)."""

    pasta_argv: list[str]
    ip: str
    ip_batch: str
    #: any port may be bound inside (a container's root is root only in its user namespace,
    #: which does not own the network namespace; the namespace has nothing else to protect)
    low_ports: bool = False

    def spec(self, pidfile: Path, log: Path) -> dict:
        return {
            "pasta": self.pasta_argv,
            "ip": self.ip,
            "ip_batch": self.ip_batch,
            "low_ports": self.low_ports,
            "pidfile": str(pidfile),
            "log": str(log),
        }


class Network:
    """The network-namespace policy of this node (built once per process)."""

    def __init__(self, pasta: str, ip: str, blocked: list[str], bind: str = "127.0.0.1"):
        self._names = (pasta, ip)
        self._tools: NetworkTools | None = None
        self.blocked = blocked
        # the host address an instance's port is bound on (where Traefik reaches it)
        self.bind = bind

    @property
    def tools(self) -> NetworkTools:
        if self._tools is None:
            self._tools = find_tools(*self._names)
        return self._tools

    def host(self) -> list[ipaddress.IPv4Network]:
        try:
            return host_networks(self.tools.ip)
        except (OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
            raise NetworkIsolationUnavailable(
                f"could not read this host's addresses: {exc}"
            ) from exc

    def refused(self) -> list[str]:
        """Every network a sandbox may not reach (IPv6 ones included, for address checks)."""
        return [*self.blocked, *prohibited(self.blocked, self.host())]

    def plan(
        self, port: int | None, inner_port: int | None = None, low_ports: bool = False
    ) -> NetworkPlan:
        tools = self.tools
        prohibit = prohibited(self.blocked, self.host())
        return NetworkPlan(
            pasta_argv(tools.pasta, port, inner_port, self.bind),
            tools.ip,
            ip_batch(prohibit),
            low_ports=low_ports,
        )
