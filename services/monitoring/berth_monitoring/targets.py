"""Where a user's monitor may point: public addresses only (no SSRF into the platform).

A user's host is resolved and every address it resolves to is judged; one address that is not
public refuses the whole target, when the monitor is saved and again before every check.
Checks connect to the address that was judged (`GuardedNetworkBackend`), never to a fresh
lookup, so a name that answers a public address to the check and a private one a second later
(DNS rebinding) reaches nothing. Operators may open private networks on purpose
(MONITORING_ALLOWED_PRIVATE_NETWORKS); the platform's own hosts stay refused regardless.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpcore

from berth_monitoring.config import MonitoringSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# names that mean this machine whatever DNS says
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class TargetRefused(ValueError):
    """The target is the platform or a non-public network; `reason` says which, for the user."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class TargetUnresolvable(ValueError):
    """The host name does not resolve (now): a check failure, not a refusal."""


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()
    )


def _host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded)
        if address.is_site_local:
            return False
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


@dataclass(frozen=True)
class TargetPolicy:
    allowed_networks: tuple[IPNetwork, ...] = ()
    refused_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_settings(cls, settings: MonitoringSettings) -> "TargetPolicy":
        hosts = {h.strip().lower() for h in settings.refused_hosts.split(",") if h.strip()}
        hosts |= {_host_of(url) for url in (settings.public_url, settings.admin_url) if url}
        hosts |= {_host_of(settings.traefik_entry_url), _host_of(settings.deploy_url)}
        return cls(parse_networks(settings.allowed_private_networks), frozenset(hosts - {""}))

    def check_address(self, address: IPAddress) -> None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed_networks):
            return
        if not is_public(address):
            raise TargetRefused(
                f"{address} is not a public address; monitors may only check public hosts"
            )

    def check_host_name(self, host: str) -> IPAddress | None:
        """Refuse the platform's own names; an IP literal is judged here (and returned)."""
        name = host.strip().rstrip(".").lower()
        if not name:
            raise TargetRefused("The target has no host")
        if name in self.refused_hosts or name in _LOCAL_NAMES or name.endswith(".localhost"):
            raise TargetRefused(f"{name} is part of the platform and cannot be monitored")
        try:
            literal = ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            return None
        self.check_address(literal)
        return literal

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to, every one judged; TargetRefused / TargetUnresolvable."""
        literal = self.check_host_name(host)
        if literal is not None:
            return [str(literal)]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise TargetUnresolvable(f"{host} does not resolve ({exc})") from None
        addresses = _unique(str(info[4][0]) for info in infos)
        if not addresses:
            raise TargetUnresolvable(f"{host} has no addresses")
        for address in addresses:
            self.check_address(ipaddress.ip_address(address.partition("%")[0]))
        return addresses


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy judged.

    TLS still verifies the certificate for the URL's host name (httpcore passes it as
    server_hostname); only the TCP connection goes to the judged address.
    """

    def __init__(self, policy: TargetPolicy, inner: httpcore.AsyncNetworkBackend | None = None):
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[object] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.policy.resolve(host, port)
        return await self.inner.connect_tcp(
            addresses[0],
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,  # type: ignore[arg-type]
        )

    async def connect_unix_socket(
        self, *args: object, **kwargs: object
    ) -> httpcore.AsyncNetworkStream:
        raise TargetRefused("Unix sockets cannot be monitored")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
