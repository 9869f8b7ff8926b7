"""App routes as rows (DEPLOY_ROUTE_PROVIDER=http): the node running an instance writes its
route (its own reachable host and the instance's port), the deploy web process renders every
row as Traefik dynamic configuration, and Traefik's HTTP provider polls it. One Traefik thus
serves apps on any node; nodes need no disk shared with it, only the database."""

import uuid
from typing import Any

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_deploy.nodes.consoles import console_routes
from berth_deploy.nodes.dao import NodeDAO, RouteDAO
from berth_deploy.operations.executor import Tx
from berth_deploy.sandbox.routes import InvalidRoute, RouteTable, route_config


async def put_route(
    session: AsyncSession,
    *,
    slug: str,
    instance_id: uuid.UUID,
    node: str,
    host: str | None,
    port: int,
) -> None:
    """Upsert the app's route; `host` None: the node's own, as it last heartbeat."""
    if host is None:
        found = await NodeDAO(session).get(node)
        if found is None:
            raise InvalidRoute(f"unknown node {node!r}")
        host = found.host
    await RouteDAO(session).put(
        slug=slug, instance_id=uuid.UUID(str(instance_id)), node=node, host=host, port=port
    )


async def drop_route(
    session: AsyncSession, *, slug: str, instance_id: uuid.UUID | None = None
) -> None:
    await RouteDAO(session).drop(slug, instance_id)


async def route_targets(session: AsyncSession, *, node: str | None = None) -> dict[str, str]:
    return {r.slug: str(r.instance_id) for r in await RouteDAO(session).listed(node)}


async def dynamic_config(
    session: AsyncSession, *, domain: str, platform_origins: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Every route as one Traefik dynamic configuration (what the HTTP provider reads): the
    apps', and the consoles of VPSes on nodes that run a web process."""
    merged: dict[str, dict[str, Any]] = {"routers": {}, "middlewares": {}, "services": {}}
    if platform_origins:
        targets = await RouteDAO(session).console_targets()
        for section, entries in console_routes(targets, platform_origins).items():
            merged[section].update(entries)
    for row in await RouteDAO(session).listed():
        try:
            config = route_config(row.slug, domain, row.port, row.instance_id, row.host)
        except InvalidRoute as exc:  # a row no longer valid (the domain changed): skip it
            logger.warning("route of {} not served: {}", row.slug, exc)
            continue
        for section, entries in config["http"].items():
            merged[section].update(entries)
    return {"http": {k: v for k, v in merged.items() if v}}


class DbRouteTable(RouteTable):
    """Routes as rows, written in their own short transactions (`tx`) by the node whose
    instance serves them."""

    def __init__(self, tx: Tx, node: str, host: str, domain: str, entry_url: str):
        super().__init__(domain, entry_url)
        self.tx = tx
        self.node = node
        self.host = host

    async def publish(
        self, slug: str, port: int, instance_id: uuid.UUID, node: str | None = None
    ) -> None:
        route_config(slug, self.domain, port, instance_id, self.host)  # refuse a bad one here
        await self.tx(
            put_route,
            slug=slug,
            instance_id=instance_id,
            node=node or self.node,
            host=None if node and node != self.node else self.host,
            port=port,
        )

    async def remove(self, slug: str, instance_id: uuid.UUID | str | None = None) -> None:
        target = uuid.UUID(str(instance_id)) if instance_id is not None else None
        await self.tx(drop_route, slug=slug, instance_id=target)

    async def published(self, node: str | None = None) -> dict[str, str | None]:
        return dict(await self.tx(route_targets, node=node))
