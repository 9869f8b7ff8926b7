"""The template catalog, for anyone signed in."""

from berth_common.db import SessionDep
from berth_common.errors import NotFound, error_responses
from berth_common.routing import guarded_router
from berth_common.security import current_principal
from berth_deploy.templates import service
from berth_deploy.templates.schemas import Template

router = guarded_router(current_principal, prefix="/api/deploy/v1/templates", tags=["templates"])


@router.get("", response_model=list[Template])
async def list_templates(session: SessionDep) -> list[Template]:
    return [Template.model_validate(t) for t in await service.active_templates(session)]


@router.get("/{key}", response_model=Template, responses=error_responses(NotFound))
async def get_template(key: str, session: SessionDep) -> Template:
    return Template.model_validate(await service.active_template(session, key))
