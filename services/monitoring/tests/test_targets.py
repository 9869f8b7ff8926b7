"""User monitors reach public addresses only: refused before any packet leaves."""

import ipaddress

import pytest

from berth_monitoring.config import MonitoringSettings
from berth_monitoring.targets import TargetPolicy, TargetRefused, is_public

REFUSED = [
    "127.0.0.1",
    "127.0.0.2",
    "10.0.0.5",
    "172.16.3.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "::1",
    "fe80::1",
    "fc00::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))
    with pytest.raises(TargetRefused):
        TargetPolicy().check_host_name(address)


@pytest.mark.parametrize("address", ["1.1.1.1", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))
    assert TargetPolicy().check_host_name(address) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "foo.localhost"])
def test_local_names_are_refused_without_a_lookup(host: str) -> None:
    with pytest.raises(TargetRefused):
        TargetPolicy().check_host_name(host)


def test_the_platforms_own_hosts_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTH_PUBLIC_URL", "https://berth.example.com")
    monkeypatch.setenv("MONITORING_REFUSED_HOSTS", "internal.example.com")
    policy = TargetPolicy.from_settings(MonitoringSettings())
    for host in ("berth.example.com", "internal.example.com"):
        with pytest.raises(TargetRefused):
            policy.check_host_name(host)


def test_an_operator_may_open_a_network_and_nothing_else() -> None:
    policy = TargetPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.2/32"),))
    assert policy.check_host_name("127.0.0.2") is not None
    for other in ("127.0.0.1", "10.0.0.1", "169.254.169.254"):
        with pytest.raises(TargetRefused):
            policy.check_host_name(other)


async def test_every_resolved_address_is_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name whose lookup answers one public and one private address is refused whole."""
    import asyncio
    import socket

    async def fake_getaddrinfo(host, port, **_):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port)),
        ]

    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(TargetRefused):
        await TargetPolicy().resolve("rebind.example.test", 80)
