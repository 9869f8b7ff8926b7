"""The queries of nodes and routes: heartbeats, what each node has reserved, the apps placed
on a node, the route rows Traefik's HTTP provider renders."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert

from berth_common.dao import BaseDAO
from berth_deploy.enums import AppStatus
from berth_deploy.models import App, Instance
from berth_deploy.nodes.models import Node, Route
from berth_deploy.operations.lifecycle import LIVE_INSTANCE
from berth_deploy.vps.enums import HOLDS_MEMORY
from berth_deploy.vps.models import Vps


class NodeDAO(BaseDAO[Node]):
    model = Node

    async def beat(self, name: str, **capacity: Any) -> None:
        """Upsert the node's heartbeat and capacity; a down node that beats again is active
        (a draining one stays draining: only an admin lifts that)."""
        stmt = insert(Node).values(name=name, heartbeat_at=func.now(), **capacity)
        # down -> active, anything else stays
        status = func.coalesce(func.nullif(Node.status, "down"), "active")
        stmt = stmt.on_conflict_do_update(
            index_elements=[Node.name],
            set_={"heartbeat_at": func.now(), "status": status, **capacity},
        )
        await self.session.execute(stmt)

    async def all(self) -> list[Node]:
        return list((await self.session.execute(select(Node).order_by(Node.name))).scalars())

    async def lock(self, name: str) -> Node | None:
        stmt = select(Node).where(Node.name == name).with_for_update()
        result = await self.session.execute(stmt.execution_options(populate_existing=True))
        return result.scalars().first()

    async def silent_since(self, horizon: datetime) -> list[Node]:
        """Nodes not yet down whose last heartbeat is older than `horizon`, locked (a node
        another supervisor is marking down meanwhile is skipped)."""
        stmt = (
            select(Node)
            .where(Node.status != "down", Node.heartbeat_at < horizon)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def reservations(self) -> dict[str, tuple[int, int, int]]:
        """node -> (memory MB, ports, instances) its live instances hold; the memory includes
        its VPSes' whose machines run (or are being made, started, stopped)."""
        stmt = (
            select(
                Instance.node,
                func.coalesce(func.sum(App.memory_mb), 0),
                func.count(Instance.port),
                func.count(),
            )
            .join(App, App.id == Instance.app_id)
            .where(Instance.status.in_(LIVE_INSTANCE))
            .group_by(Instance.node)
        )
        held = {n: (int(m), int(p), int(c)) for n, m, p, c in await self.session.execute(stmt)}
        vps = (
            select(Vps.node, func.sum(Vps.memory_mb))
            .where(Vps.status.in_(HOLDS_MEMORY))
            .group_by(Vps.node)
        )
        for node, memory in await self.session.execute(vps):
            m, p, c = held.get(node, (0, 0, 0))
            held[node] = (m + int(memory), p, c)
        return held

    async def placed_apps(self, node: str) -> list[uuid.UUID]:
        """Apps placed on the node, or running an instance there, that are not gone."""
        on_node = select(Instance.app_id).where(
            Instance.node == node, Instance.status.in_(LIVE_INSTANCE)
        )
        stmt = select(App.id).where(
            (App.node == node) | App.id.in_(on_node),
            App.status.not_in((AppStatus.DELETED, AppStatus.DELETING)),
        )
        return list((await self.session.execute(stmt)).scalars())


class RouteDAO(BaseDAO[Route]):
    model = Route

    async def put(self, **values: Any) -> None:
        stmt = insert(Route).values(**values, updated_at=func.now())
        stmt = stmt.on_conflict_do_update(
            index_elements=[Route.slug],
            set_={k: v for k, v in values.items() if k != "slug"} | {"updated_at": func.now()},
        )
        await self.session.execute(stmt)

    async def drop(self, slug: str, instance_id: uuid.UUID | None) -> None:
        stmt = delete(Route).where(Route.slug == slug)
        if instance_id is not None:
            stmt = stmt.where(Route.instance_id == instance_id)
        await self.session.execute(stmt)

    async def drop_instances(self, instance_ids: list[uuid.UUID]) -> None:
        await self.session.execute(delete(Route).where(Route.instance_id.in_(instance_ids)))

    async def listed(self, node: str | None = None) -> list[Route]:
        stmt = select(Route).order_by(Route.slug)
        if node is not None:
            stmt = stmt.where(Route.node == node)
        return list((await self.session.execute(stmt)).scalars())

    async def console_targets(self) -> list[tuple[uuid.UUID, str, str]]:
        """(VPS, node, the node's web URL) of every live VPS on a node that runs a web
        process."""
        stmt = (
            select(Vps.id, Node.name, Node.web_url)
            .join(Node, Node.name == Vps.node)
            .where(Vps.status != "deleted", Node.web_url.is_not(None))
            .order_by(Vps.id)
        )
        return [tuple(row) for row in (await self.session.execute(stmt)).all()]
