"""Admin views of the app nodes (the gateway checks the admin role; so does this service):
their capacity and load, drain and undrain. And the routes Traefik's HTTP provider polls."""

import hmac
from typing import Any

from fastapi import Header, Path

from berth_common.db import SessionDep
from berth_common.errors import (
    Conflict,
    NotFound,
    Unauthorized,
    Unprocessable,
    error_responses,
)
from berth_common.pagination import PageDep
from berth_common.routing import public_router, role_router
from berth_common.security import AdminUser
from berth_deploy.deps import SettingsDep, actor_id
from berth_deploy.nodes import routes, service
from berth_deploy.nodes.schemas import Node, NodeDrain, NodePage

router = role_router("admin", prefix="/api/deploy/v1/admin/nodes", tags=["admin"])
NodeName = Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


async def _node(session, name: str) -> Node:
    for room in await service.nodes_with_room(session):
        if room.node.name == name:
            return Node.of(room)
    raise NotFound("Node not found")


@router.get("", response_model=NodePage, responses=error_responses(Unprocessable))
async def list_nodes(session: SessionDep, params: PageDep) -> NodePage:
    found = [Node.of(r) for r in await service.nodes_with_room(session)]
    page = found[params.offset : params.offset + params.size]
    return NodePage.build(page, len(found), params)


@router.post(
    "/{name}/drain", response_model=NodeDrain, responses=error_responses(NotFound, Conflict)
)
async def drain_node(session: SessionDep, admin: AdminUser, name: str = NodeName) -> NodeDrain:
    moving = await service.drain(session, name=name, admin_id=actor_id(admin))
    await session.flush()
    staying = await service.vps_staying(session, name=name)
    return NodeDrain(node=await _node(session, name), apps_moving=moving, vps_staying=staying)


@router.post("/{name}/undrain", response_model=Node, responses=error_responses(NotFound, Conflict))
async def undrain_node(session: SessionDep, admin: AdminUser, name: str = NodeName) -> Node:
    await service.undrain(session, name=name)
    await session.flush()
    return await _node(session, name)


# Traefik's HTTP provider (static configuration `providers.http.endpoint`): not routed by
# Traefik itself, so only what reaches the deploy web process directly can read it; with
# DEPLOY_TRAEFIK_PROVIDER_TOKEN set, only a caller sending it (`providers.http.headers`)
provider_router = public_router(tags=["internal"], include_in_schema=False)


@provider_router.get("/internal/traefik/routes", responses=error_responses(Unauthorized))
async def traefik_routes(
    session: SessionDep, settings: SettingsDep, authorization: str = Header("")
) -> dict[str, Any]:
    token = settings.traefik_provider_token
    if token is not None:
        expected = f"Bearer {token.get_secret_value()}"
        if not hmac.compare_digest(authorization.encode(), expected.encode()):
            raise Unauthorized("This endpoint is for Traefik's HTTP provider")
    return await routes.dynamic_config(
        session, domain=settings.apps_domain, platform_origins=settings.platform_origins
    )
