"""Where an app's next operation runs: the node it is placed on while that node is active,
else the active node with the most memory left for it.

An app sticks to its node (its built releases are on that node's disk). It moves when its
node is draining or down and the operation starts processes; then it goes to the active node
with the most free memory that fits it (fewest instances next, then by name). Stops and
deletes of an app on a draining node still run there (its files are there); on a down node
they run anywhere (its rows are all there is). With no active node known (no supervisor has
beaten yet), an unplaced app's operation goes to the platform-wide queue that every node's
worker consumes, as before nodes existed; the node that takes it becomes the app's node.

A VPS is placed once, when it is ordered, on the active node with the most memory left for its
plan (apps' instances and other VPSes count against the same room); it never moves (its disk
is on that node). With no active node, it goes to the ordering process's own node, unless an
admin drains that node: then nothing can take it.
"""

from dataclasses import dataclass

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import ServiceUnavailable
from berth_deploy.enums import NodeStatus
from berth_deploy.models import App
from berth_deploy.nodes.dao import NodeDAO
from berth_deploy.nodes.models import Node


@dataclass(frozen=True)
class Room:
    node: Node
    free_mb: int
    free_ports: int
    instances: int


async def rooms(session: AsyncSession) -> list[Room]:
    """Every node with what its live instances leave free."""
    dao = NodeDAO(session)
    held = await dao.reservations()
    found = []
    for node in await dao.all():
        memory, ports, count = held.get(node.name, (0, 0, 0))
        span = node.port_max - node.port_min + 1
        found.append(Room(node, node.memory_mb - memory, span - ports, count))
    return found


def choose(candidates: list[Room], memory_mb: int) -> Room | None:
    active = [r for r in candidates if r.node.status == NodeStatus.ACTIVE and r.free_ports > 0]
    if not active:
        return None
    fitting = [r for r in active if r.free_mb >= memory_mb] or active
    return min(fitting, key=lambda r: (-r.free_mb, r.instances, r.node.name))


async def place(session: AsyncSession, app: App, *, moving: bool) -> str | None:
    """The node the app's next operation runs on (`moving`: it starts processes), or None for
    any node; the app row (locked by the caller) records it."""
    candidates = await rooms(session)
    current = next((r.node for r in candidates if r.node.name == app.node), None)
    if current is not None:
        if current.status == NodeStatus.ACTIVE:
            return current.name
        if current.status == NodeStatus.DRAINING and not moving:
            return current.name
    chosen = choose(candidates, app.memory_mb)
    if chosen is None:
        logger.bind(app_id=str(app.id)).warning("no active node: left on {}", app.node)
        return app.node
    if chosen.free_mb < app.memory_mb:
        logger.bind(app_id=str(app.id)).warning(
            "no node has {} MB free: placed on {} anyway", app.memory_mb, chosen.node.name
        )
    app.node = chosen.node.name
    return app.node


class NoNodeForVps(ServiceUnavailable):
    code = "no_node_for_vps"


async def place_vps(session: AsyncSession, memory_mb: int, *, here: str) -> str:
    """The node a new VPS of `memory_mb` is made on (see the module's note)."""
    candidates = await rooms(session)
    # only nodes whose supervisor has a machine driver (it heartbeats the kind it makes)
    chosen = choose([r for r in candidates if r.node.vps_kind is not None], memory_mb)
    if chosen is None:
        mine = next((r.node for r in candidates if r.node.name == here), None)
        if mine is not None and mine.status == NodeStatus.DRAINING:
            raise NoNodeForVps("No node takes new VPSes now (every node is drained or down)")
        return here
    if chosen.free_mb < memory_mb:
        logger.warning(
            "no node has {} MB free for a VPS: placed on {} anyway", memory_mb, chosen.node.name
        )
    return chosen.node.name


async def vps_ports(session: AsyncSession, node: str, fallback: tuple[int, int]) -> tuple[int, int]:
    """The SSH port pool (lowest, highest) of the node's VPSes: what it heartbeats, else
    `fallback`."""
    row = await session.get(Node, node)
    if row is not None and row.vps_port_min is not None and row.vps_port_max is not None:
        return row.vps_port_min, row.vps_port_max
    return fallback
