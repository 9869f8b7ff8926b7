"""Who the client is: its IP address, as the platform's own proxies saw it.

Each trusted proxy (Traefik, one hop by default) appends the peer it saw to X-Forwarded-For,
so the entry `trusted_hops` from the right is the client's address and everything left of it
is whatever the client chose to send. The answer is always a real IP address or None, never
header text: it is rate-limited on, stored in an INET column and written to logs.

A service that calls another on the caller's behalf (the frontend calling auth) is one more
hop that reads the same setting: `forwarded_for_upstream` writes the address where the called
service, counting the same hops from the right, will find it.
"""

import functools
import ipaddress

from starlette.requests import Request

FORWARDED_FOR = "x-forwarded-for"


# the same few addresses (proxies, busy clients) come again and again: parsing is the cost
@functools.lru_cache(maxsize=4096)
def valid_ip(value: str | None) -> str | None:
    """The address in canonical form, or None when `value` is not an IP address."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def forwarded_client(forwarded_for: str, trusted_hops: int) -> str | None:
    """The address the outermost of `trusted_hops` proxies saw, from an X-Forwarded-For value;
    None when the header has fewer entries than that, or that entry is not an address."""
    if trusted_hops < 1:
        return None
    entries = [entry.strip() for entry in forwarded_for.split(",")]
    if len(entries) < trusted_hops:
        return None
    return valid_ip(entries[-trusted_hops])


def client_ip(request: Request, trusted_hops: int = 1) -> str | None:
    """The client's address: from X-Forwarded-For behind `trusted_hops` proxies (0: the header
    is ignored), else the connection's peer; None when neither is an IP address."""
    # several X-Forwarded-For headers read as one list, in order (RFC 9110 field lines)
    forwarded = ",".join(request.headers.getlist(FORWARDED_FOR))
    address = forwarded_client(forwarded, trusted_hops) if forwarded else None
    if address is None and request.client is not None:
        address = valid_ip(request.client.host)
    return address


def forwarded_for_upstream(address: str, trusted_hops: int) -> str:
    """The X-Forwarded-For value to send another Berth service about `address`: it sits at
    `trusted_hops` from the right, where that service (with the same setting) reads it."""
    return ", ".join([address] * max(trusted_hops, 1))
