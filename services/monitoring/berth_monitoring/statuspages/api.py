"""Status pages: the owner's settings, and the public read behind /status/<slug>."""

import uuid
from typing import Annotated

from fastapi import Path, Response, status

from berth_common.db import SessionDep
from berth_common.errors import Conflict, NotFound, Unprocessable, error_responses
from berth_common.pagination import PageDep
from berth_common.routing import public_router, user_router
from berth_common.security import CurrentUserId
from berth_monitoring.statuspages import service
from berth_monitoring.statuspages.schemas import (
    PublicStatusPage,
    StatusPage,
    StatusPageCreate,
    StatusPagePage,
    StatusPageUpdate,
)

router = user_router(prefix="/api/monitoring/v1/status-pages", tags=["status pages"])
public = public_router(prefix="/api/monitoring/v1/public/status", tags=["status pages"])

# a status page may be cached briefly by browsers and proxies: it is public and changes slowly
PUBLIC_CACHE = "public, max-age=30"


@router.get("", response_model=StatusPagePage)
async def list_pages(owner: CurrentUserId, session: SessionDep, params: PageDep) -> StatusPagePage:
    items, total = await service.list_pages(session, owner, params)
    return StatusPagePage.build(items, total, params)


@router.post(
    "",
    response_model=StatusPage,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(Conflict, Unprocessable),
)
async def create_page(
    body: StatusPageCreate, owner: CurrentUserId, session: SessionDep
) -> StatusPage:
    return await service.create_page(session, owner, body)


@router.get("/{page_id}", response_model=StatusPage, responses=error_responses(NotFound))
async def get_page(page_id: uuid.UUID, owner: CurrentUserId, session: SessionDep) -> StatusPage:
    return await service.page_out(session, await service.get_page(session, owner, page_id))


@router.patch(
    "/{page_id}",
    response_model=StatusPage,
    responses=error_responses(NotFound, Conflict, Unprocessable),
)
async def update_page(
    page_id: uuid.UUID, body: StatusPageUpdate, owner: CurrentUserId, session: SessionDep
) -> StatusPage:
    page = await service.get_page(session, owner, page_id)
    return await service.update_page(session, page, body)


@router.delete(
    "/{page_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(NotFound)
)
async def delete_page(page_id: uuid.UUID, owner: CurrentUserId, session: SessionDep) -> Response:
    await service.delete_page(session, await service.get_page(session, owner, page_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@public.get("/{slug}", response_model=PublicStatusPage, responses=error_responses(NotFound))
async def public_page(
    slug: Annotated[str, Path(pattern=r"^[a-z0-9-]{3,60}$")],
    session: SessionDep,
    response: Response,
) -> PublicStatusPage:
    page = await service.public_page(session, slug)
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return page
