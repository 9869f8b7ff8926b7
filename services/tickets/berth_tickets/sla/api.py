"""Admins' SLA settings: /api/tickets/v1/admin/sla-policies and /calendars."""

import uuid

from berth_common.db import SessionDep
from berth_common.errors import Conflict, NotFound, Unprocessable
from berth_common.routing import role_router
from berth_tickets.sla import settings as service
from berth_tickets.staff import schemas

router = role_router(
    "admin",
    prefix="/api/tickets/v1/admin",
    tags=["admin"],
    errors=(NotFound, Unprocessable, Conflict),
)


@router.get("/sla-policies", response_model=list[schemas.SlaPolicy])
async def policies(session: SessionDep) -> list:
    return await service.policies(session)


@router.post("/sla-policies", status_code=201, response_model=schemas.SlaPolicy)
async def create_policy(data: schemas.SlaPolicyCreate, session: SessionDep):
    return await service.create_policy(session, data.model_dump())


@router.patch("/sla-policies/{policy_id}", response_model=schemas.SlaPolicy)
async def update_policy(policy_id: uuid.UUID, data: schemas.SlaPolicyUpdate, session: SessionDep):
    return await service.update_policy(session, policy_id, data.model_dump(exclude_unset=True))


@router.delete("/sla-policies/{policy_id}", status_code=204)
async def delete_policy(policy_id: uuid.UUID, session: SessionDep) -> None:
    await service.delete_policy(session, policy_id)


@router.get("/calendars", response_model=list[schemas.Calendar])
async def calendars(session: SessionDep) -> list:
    return await service.calendars(session)


@router.post("/calendars", status_code=201, response_model=schemas.Calendar)
async def create_calendar(data: schemas.CalendarCreate, session: SessionDep):
    return await service.create_calendar(session, data.model_dump())


@router.patch("/calendars/{calendar_id}", response_model=schemas.Calendar)
async def update_calendar(
    calendar_id: uuid.UUID, data: schemas.CalendarUpdate, session: SessionDep
):
    return await service.update_calendar(session, calendar_id, data.model_dump(exclude_unset=True))


@router.delete("/calendars/{calendar_id}", status_code=204)
async def delete_calendar(calendar_id: uuid.UUID, session: SessionDep) -> None:
    await service.delete_calendar(session, calendar_id)
