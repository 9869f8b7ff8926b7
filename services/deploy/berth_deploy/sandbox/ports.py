"""The port pool of a node: a free port for each web instance, never one a live instance holds."""

import random
import socket
from collections.abc import Collection

from berth_common.errors import ServiceUnavailable


class PortsExhausted(ServiceUnavailable):
    code = "ports_exhausted"


def bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port(low: int, high: int, taken: Collection[int]) -> int:
    """A port in [low, high] that no live instance holds and nothing listens on right now.

    The database's unique index on live (node, port) settles two workers picking the same.
    """
    candidates = [p for p in range(low, high + 1) if p not in taken]
    random.shuffle(candidates)
    for port in candidates[:200]:
        if bindable(port):
            return port
    raise PortsExhausted(f"No free port in {low}-{high} on this node")
