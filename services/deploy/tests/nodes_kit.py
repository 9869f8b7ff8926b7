"""Helpers of the node tests: a node of this run's own, its heartbeat, and its silence (a
back-dated heartbeat, as if its supervisor stopped)."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from berth_deploy.nodes import service as nodes
from berth_deploy.nodes.models import Node


def fresh_node() -> str:
    return f"t-node-{uuid.uuid4().hex[:8]}"


async def beat(
    deploy_node,
    name: str,
    host: str = "127.0.0.1",
    memory_mb: int = 2048,
    vps_ports: tuple[int, int] | None = None,
    web_url: str | None = None,
    vps_kind: str | None = "container",
) -> None:
    capacity = nodes.capacity_of(host, memory_mb, 2, 25000, 25009, vps_ports, web_url, vps_kind)
    await deploy_node.ctx.tx(nodes.heartbeat, node=name, capacity=capacity)


async def silence(deploy_node, name: str, seconds: float) -> None:
    async def back_date(session):
        when = datetime.now(UTC) - timedelta(seconds=seconds)
        await session.execute(update(Node).where(Node.name == name).values(heartbeat_at=when))

    await deploy_node.ctx.tx(back_date)


async def gone(deploy_node, *names: str) -> None:
    """The nodes fall silent and are marked down: nothing is placed on them after the test."""
    for name in names:
        await silence(deploy_node, name, 3600)
    await deploy_node.ctx.tx(nodes.fail_over_silent, down_after=60)
