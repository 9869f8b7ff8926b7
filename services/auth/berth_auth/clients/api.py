"""Admin management of machine clients: other teams' OAuth clients (client_credentials)."""

from typing import Annotated

from fastapi import Path, Query

from berth_auth.clients import service
from berth_auth.clients.schemas import Client, ClientCreate, ClientPage, ClientWithSecret, ScopeInfo
from berth_auth.deps import SettingsDep
from berth_auth.scopes import SCOPE_CATALOG
from berth_common.db import SessionDep
from berth_common.errors import Conflict, NotFound, error_responses
from berth_common.pagination import PageDep
from berth_common.routing import role_router
from berth_common.security import AdminUser

router = role_router("admin", prefix="/api/auth/v1/admin/clients", tags=["admin: clients"])

ClientRef = Annotated[
    str,
    Path(alias="id", min_length=1, max_length=64, description="row id (uuid) or client_id"),
]


def _with_secret(issued: service.IssuedClient) -> ClientWithSecret:
    return ClientWithSecret(
        **Client.model_validate(issued.client).model_dump(), client_secret=issued.client_secret
    )


@router.get("/scopes", response_model=list[ScopeInfo], summary="The scope catalog")
async def list_scopes(_: AdminUser) -> list[ScopeInfo]:
    return [ScopeInfo(name=name, description=text) for name, text in SCOPE_CATALOG.items()]


@router.post(
    "",
    status_code=201,
    response_model=ClientWithSecret,
    summary="Create a machine client; the secret is shown only in this response",
)
async def create_client(
    body: ClientCreate, admin: AdminUser, session: SessionDep
) -> ClientWithSecret:
    issued = await service.create_machine_client(
        session, name=body.name, scopes=body.scopes, actor_id=admin.subject
    )
    return _with_secret(issued)


@router.get("", response_model=ClientPage, summary="List machine clients")
async def list_clients(
    _: AdminUser,
    session: SessionDep,
    page: PageDep,
    revoked: Annotated[bool | None, Query(description="only revoked, or only active")] = None,
) -> ClientPage:
    items, total = await service.list_machine_clients(session, page, revoked=revoked)
    return ClientPage.build([Client.model_validate(c) for c in items], total, page)


@router.get(
    "/{id}",
    response_model=Client,
    responses=error_responses(NotFound),
    summary="One machine client",
)
async def get_client(ref: ClientRef, _: AdminUser, session: SessionDep) -> Client:
    return Client.model_validate(await service.get_machine_client(session, ref))


@router.post(
    "/{id}/revoke",
    response_model=Client,
    responses=error_responses(NotFound),
    summary="Revoke a machine client (idempotent): no new tokens, issued ones stop working",
)
async def revoke_client(
    ref: ClientRef, admin: AdminUser, session: SessionDep, settings: SettingsDep
) -> Client:
    client = await service.revoke_machine_client(session, settings, ref, actor_id=admin.subject)
    return Client.model_validate(client)


@router.post(
    "/{id}/rotate-secret",
    response_model=ClientWithSecret,
    responses=error_responses(NotFound, Conflict),
    summary="Replace a machine client's secret; the new one is shown only in this response",
)
async def rotate_secret(ref: ClientRef, admin: AdminUser, session: SessionDep) -> ClientWithSecret:
    issued = await service.rotate_client_secret(session, ref, actor_id=admin.subject)
    return _with_secret(issued)
