"""The signed-in person's incidents: a page (filter by status or monitor), one with its
monitors and timeline. Another person's incident is "not found"."""

import uuid

from berth_common.db import SessionDep
from berth_common.errors import NotFound, error_responses
from berth_common.pagination import PageDep
from berth_common.routing import user_router
from berth_common.security import CurrentUserId
from berth_monitoring.enums import IncidentStatus
from berth_monitoring.incidents import schemas
from berth_monitoring.incidents.dao import IncidentDAO

router = user_router(prefix="/api/monitoring/v1", tags=["incidents"])


@router.get("/incidents", response_model=schemas.IncidentPage)
async def list_incidents(
    owner_id: CurrentUserId,
    session: SessionDep,
    params: PageDep,
    status: IncidentStatus | None = None,
    monitor_id: uuid.UUID | None = None,
) -> schemas.IncidentPage:
    items, total = await IncidentDAO(session).page(params, owner_id, status, monitor_id)
    return schemas.IncidentPage.build(
        [schemas.Incident.model_validate(i) for i in items], total, params
    )


@router.get(
    "/incidents/{incident_id}",
    response_model=schemas.IncidentDetail,
    responses=error_responses(NotFound),
)
async def get_incident(
    incident_id: uuid.UUID, owner_id: CurrentUserId, session: SessionDep
) -> schemas.IncidentDetail:
    dao = IncidentDAO(session)
    incident = await dao.owned(owner_id, incident_id)
    if incident is None:
        raise NotFound("Incident not found")
    members = await dao.members(incident_id)
    return schemas.IncidentDetail(
        **schemas.Incident.model_validate(incident).model_dump(),
        monitors=[
            schemas.IncidentMonitor(
                monitor_id=m.monitor_id, name=name, down_at=m.down_at, up_at=m.up_at
            )
            for m, name in members
        ],
        timeline=[schemas.TimelineEvent.model_validate(e) for e in await dao.timeline(incident_id)],
    )
