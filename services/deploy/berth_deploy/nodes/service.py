"""App nodes as the platform sees them: each node's heartbeat (capacity), the failover of a
node that went silent, and an admin's drain.

- A node's supervisor upserts its row every tick; the row's heartbeat is the database's clock.
- Any supervisor's tick marks a node down once it has been silent `node_down_seconds`: its
  live instances end ("lost": billing hears they stopped, their routes go) and each app that
  was serving there gets a deploy of its current commit, which placement sends to an active
  node. Operations the dead node's worker held are reaped by the lease rules as before.
  Its VPSes cannot move without their disks: they are marked stopped (billing hears it) and
  wait for the node (vps/lifecycle.py `lost_with_node`).
- A drain stops placing apps on the node and moves each app serving there with the same kind
  of deploy: a zero-downtime rollout (new instance elsewhere, health check, route switch,
  old one stopped, by its own node's supervisor). VPSes stay and keep running there (their
  disks are there); only new ones go elsewhere.
"""

import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import BerthError, Conflict, NotFound
from berth_deploy import events
from berth_deploy.apps.dao import AppDAO
from berth_deploy.enums import InstanceStatus, NodeStatus, OperationKind, OperationOrigin
from berth_deploy.instances.dao import InstanceDAO
from berth_deploy.nodes.dao import NodeDAO, RouteDAO
from berth_deploy.nodes.models import Node
from berth_deploy.nodes.placement import Room, rooms
from berth_deploy.operations.cause import DeployCause
from berth_deploy.operations.lifecycle import LIVE_INSTANCE, SERVING_INSTANCE
from berth_deploy.operations.service import request_operation
from berth_deploy.releases.dao import ReleaseDAO
from berth_deploy.vps.dao import VpsDAO
from berth_deploy.vps.lifecycle import lost_with_node


@dataclass(frozen=True)
class Capacity:
    host: str
    memory_mb: int
    cpus: int
    port_min: int
    port_max: int
    # the SSH ports its VPSes get (None: the ordering process's own pool)
    vps_port_min: int | None = None
    vps_port_max: int | None = None
    # its deploy web process, as Traefik reaches it (None: it runs none)
    web_url: str | None = None
    # the VPSes its machine driver makes (None: no driver, no VPS is placed there)
    vps_kind: str | None = None


def machine_memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


def capacity_of(
    host: str,
    memory_mb: int,
    cpus: int,
    port_min: int,
    port_max: int,
    vps_ports: tuple[int, int] | None = None,
    web_url: str | None = None,
    vps_kind: str | None = None,
) -> Capacity:
    """What a node offers apps and VPSes: its settings, or what the machine has where they
    say 0."""
    vps_min, vps_max = vps_ports or (None, None)
    memory = memory_mb or machine_memory_mb()
    cpus = cpus or os.cpu_count() or 1
    return Capacity(host, memory, cpus, port_min, port_max, vps_min, vps_max, web_url, vps_kind)


async def heartbeat(session: AsyncSession, *, node: str, capacity: Capacity) -> None:
    await NodeDAO(session).beat(
        node,
        host=capacity.host,
        memory_mb=capacity.memory_mb,
        cpus=capacity.cpus,
        port_min=capacity.port_min,
        port_max=capacity.port_max,
        vps_port_min=capacity.vps_port_min,
        vps_port_max=capacity.vps_port_max,
        web_url=capacity.web_url,
        vps_kind=capacity.vps_kind,
    )


async def fail_over_silent(session: AsyncSession, *, down_after: float) -> list[str]:
    """Mark nodes silent past `down_after` seconds down and start their apps elsewhere."""
    now = await InstanceDAO(session).database_now()
    downed = []
    for node in await NodeDAO(session).silent_since(now - timedelta(seconds=down_after)):
        silent = int((now - node.heartbeat_at).total_seconds())
        _set_status(node, NodeStatus.DOWN)
        reason = f"node {node.name} is down (no heartbeat for {silent}s)"
        moved = await _evacuate(session, node.name, reason, lost=True)
        stopped = await lost_with_node(session, node=node.name, reason=reason)
        logger.warning("{}: {} app(s) rescheduled, {} VPS(es) stopped", reason, moved, stopped)
        downed.append(node.name)
    return downed


async def drain(session: AsyncSession, *, name: str, admin_id: uuid.UUID | None) -> int:
    """Nothing new goes to the node, and each app serving there moves off; how many move."""
    node = await _locked(session, name)
    if node.status == NodeStatus.DOWN:
        raise Conflict(f"Node {name} is down: its apps were already moved", code="node_down")
    _set_status(node, NodeStatus.DRAINING)
    return await _evacuate(
        session, name, f"node {name} drained by an admin", lost=False, by=admin_id
    )


async def vps_staying(session: AsyncSession, *, name: str) -> int:
    """The node's VPSes (not deleted): a drain leaves them there, their disks are there."""
    return await VpsDAO(session).count_on_node(name)


async def undrain(session: AsyncSession, *, name: str) -> None:
    node = await _locked(session, name)
    if node.status == NodeStatus.DOWN:
        raise Conflict(
            f"Node {name} is down: it becomes active when its supervisor beats again",
            code="node_down",
        )
    _set_status(node, NodeStatus.ACTIVE)


async def nodes_with_room(session: AsyncSession) -> list[Room]:
    return await rooms(session)


async def _locked(session: AsyncSession, name: str) -> Node:
    node = await NodeDAO(session).lock(name)
    if node is None:
        raise NotFound("Node not found")
    return node


def _set_status(node: Node, status: NodeStatus) -> None:
    if node.status != status:
        node.status = status
        node.status_changed_at = datetime.now(UTC)


async def _evacuate(
    session: AsyncSession,
    node: str,
    reason: str,
    *,
    lost: bool,
    by: uuid.UUID | None = None,
) -> int:
    """Ask for a deploy of each app serving on the node (placement sends it elsewhere); a
    lost node's live instances end first. How many apps were asked to move."""
    moved = 0
    for app_id in await NodeDAO(session).placed_apps(node):
        app = await AppDAO(session).lock(app_id)
        assert app is not None
        mine = [i for i in await InstanceDAO(session).live(app.id) if i.node == node]
        serving = [i for i in mine if i.status in SERVING_INSTANCE]
        if lost:
            await _end_lost(session, app, mine, reason)
        if not serving:
            continue
        release = (
            await ReleaseDAO(session).get(app.current_release_id)
            if app.current_release_id
            else None
        )
        cause = DeployCause(commit_sha=release.commit_sha if release else None)
        try:
            async with session.begin_nested():
                await request_operation(
                    session,
                    app.id,
                    OperationKind.DEPLOY,
                    requested_by=by,
                    origin=OperationOrigin.ADMIN,
                    reason=reason,
                    cause=cause,
                )
            moved += 1
        except BerthError as exc:  # e.g. its owner is suspended meanwhile: it stays down
            logger.bind(app_id=str(app.id)).warning("not moved off {}: {}", node, exc.message)
    return moved


async def _end_lost(session: AsyncSession, app, instances, reason: str) -> None:
    now = datetime.now(UTC)
    for instance in instances:
        if instance.status not in LIVE_INSTANCE:
            continue
        instance.status = InstanceStatus.FAILED
        instance.stopped_at = now
        instance.stop_reason = f"lost: {reason}"[:500]
        instance.routed = False
        instance.next_restart_at = None
        if instance.started_at is not None:
            await events.instance_ended(session, events.STOPPED, app, instance, "node_down")
    await RouteDAO(session).drop_instances([i.id for i in instances])
