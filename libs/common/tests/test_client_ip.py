"""The client's address: only what the trusted proxies wrote, and only a real IP address."""

import pytest
from starlette.requests import Request

from berth_common.client_ip import client_ip, forwarded_client, forwarded_for_upstream, valid_ip

PEER = "10.0.0.7"


def request(*forwarded_for: str, peer: str | None = PEER) -> Request:
    headers = [(b"x-forwarded-for", value.encode("latin-1")) for value in forwarded_for]
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": headers,
        "client": (peer, 50000) if peer is not None else None,
    }
    return Request(scope)


def test_the_entry_the_proxy_appended_is_the_client():
    assert client_ip(request("203.0.113.9")) == "203.0.113.9"


def test_spoofed_entries_left_of_the_proxy_s_are_ignored():
    # the client sent "1.2.3.4, 5.6.7.8"; Traefik appended the address it really saw
    assert client_ip(request("1.2.3.4, 5.6.7.8, 203.0.113.9")) == "203.0.113.9"
    assert client_ip(request("1.2.3.4", "203.0.113.9")) == "203.0.113.9"


def test_two_trusted_hops_take_the_second_entry_from_the_right():
    header = "1.2.3.4, 198.51.100.20, 10.1.1.1"
    assert client_ip(request(header), trusted_hops=2) == "198.51.100.20"
    assert client_ip(request(header), trusted_hops=1) == "10.1.1.1"


def test_zero_hops_ignores_the_header():
    assert client_ip(request("203.0.113.9"), trusted_hops=0) == PEER


def test_fewer_entries_than_trusted_hops_falls_back_to_the_peer():
    assert forwarded_client("203.0.113.9", trusted_hops=2) is None
    assert client_ip(request("203.0.113.9"), trusted_hops=2) == PEER


@pytest.mark.parametrize(
    "garbage",
    [
        "not-an-ip",
        "203.0.113.9, <script>alert(1)</script>",
        "203.0.113.9,",
        "999.1.1.1",
        "203.0.113.9 OR 1=1",
        "unknown",
    ],
)
def test_garbage_is_never_returned_as_an_address(garbage: str):
    assert client_ip(request(garbage)) == PEER
    assert client_ip(request(garbage, peer="testclient")) is None
    assert client_ip(request(garbage, peer=None)) is None


def test_addresses_come_back_canonical():
    assert client_ip(request(" 2001:DB8::0001 ")) == "2001:db8::1"
    assert valid_ip("192.0.2.1") == "192.0.2.1"
    assert valid_ip("") is None and valid_ip(None) is None


def test_without_a_header_the_peer_is_the_client():
    assert client_ip(request()) == PEER
    assert client_ip(request(peer=None)) is None


def test_an_address_sent_upstream_is_found_where_the_same_hops_read_it():
    """The frontend calls auth directly, yet auth reads the header as behind the platform's
    proxies: with one or two trusted hops it must find the browser, not the frontend."""
    for hops in (1, 2, 3):
        header = forwarded_for_upstream("198.51.100.7", hops)
        assert client_ip(request(header), trusted_hops=hops) == "198.51.100.7"
