"""Admins' settings of the desk: departments, their agents, canned replies
(/api/tickets/v1/admin/..., role admin here and at the gateway)."""

import uuid

from berth_common.db import SessionDep
from berth_common.errors import (
    Conflict,
    NotFound,
    ServiceUnavailable,
    Unprocessable,
    error_responses,
)
from berth_common.routing import role_router
from berth_common.security import AdminUser, user_id_of
from berth_tickets.departments import service
from berth_tickets.deps import UpstreamDep
from berth_tickets.staff import schemas

router = role_router(
    "admin",
    prefix="/api/tickets/v1/admin",
    tags=["admin"],
    errors=(NotFound, Unprocessable),
)


@router.get("/departments", response_model=list[schemas.DepartmentOut])
async def departments(session: SessionDep) -> list:
    return await service.listing(session, active_only=False)


@router.post(
    "/departments",
    status_code=201,
    response_model=schemas.DepartmentOut,
    responses=error_responses(Conflict),
)
async def create_department(data: schemas.DepartmentCreate, session: SessionDep):
    return await service.create(session, data.model_dump())


@router.patch("/departments/{department_id}", response_model=schemas.DepartmentOut)
async def update_department(
    department_id: uuid.UUID, data: schemas.DepartmentUpdate, session: SessionDep
):
    return await service.update(session, department_id, data.model_dump(exclude_unset=True))


@router.get("/departments/{department_id}/agents", response_model=list[schemas.Agent])
async def agents(department_id: uuid.UUID, session: SessionDep) -> list:
    return await service.agents(session, department_id)


@router.put(
    "/departments/{department_id}/agents/{agent_id}",
    response_model=schemas.Agent,
    responses=error_responses(ServiceUnavailable),
)
async def put_agent(
    department_id: uuid.UUID,
    agent_id: uuid.UUID,
    data: schemas.AgentPut,
    session: SessionDep,
    upstream: UpstreamDep,
):
    """Add a support person (role support or admin) to the department's round-robin, or
    pause them (`is_active: false`)."""
    return await service.put_agent(session, upstream, department_id, agent_id, data.is_active)


@router.delete("/departments/{department_id}/agents/{agent_id}", status_code=204)
async def remove_agent(department_id: uuid.UUID, agent_id: uuid.UUID, session: SessionDep) -> None:
    await service.remove_agent(session, department_id, agent_id)


@router.post("/canned-replies", status_code=201, response_model=schemas.CannedReply)
async def create_canned(data: schemas.CannedReplyCreate, admin: AdminUser, session: SessionDep):
    return await service.create_canned(session, data.model_dump(), user_id_of(admin))


@router.patch("/canned-replies/{reply_id}", response_model=schemas.CannedReply)
async def update_canned(reply_id: uuid.UUID, data: schemas.CannedReplyUpdate, session: SessionDep):
    return await service.update_canned(session, reply_id, data.model_dump(exclude_unset=True))


@router.delete("/canned-replies/{reply_id}", status_code=204)
async def delete_canned(reply_id: uuid.UUID, session: SessionDep) -> None:
    await service.delete_canned(session, reply_id)
