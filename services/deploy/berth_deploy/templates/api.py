"""The template catalog, for anyone signed in."""

from fastapi import APIRouter, Depends

from berth_common.db import SessionDep
from berth_common.errors import NotFound, Unauthorized, error_responses
from berth_common.security import current_principal
from berth_deploy.templates.dao import TemplateDAO
from berth_deploy.templates.schemas import Template

router = APIRouter(
    prefix="/api/deploy/v1/templates",
    tags=["templates"],
    dependencies=[Depends(current_principal)],
    responses=error_responses(Unauthorized),
)


@router.get("", response_model=list[Template])
async def list_templates(session: SessionDep) -> list[Template]:
    return [Template.model_validate(t) for t in await TemplateDAO(session).active()]


@router.get("/{key}", response_model=Template, responses=error_responses(NotFound))
async def get_template(key: str, session: SessionDep) -> Template:
    template = await TemplateDAO(session).get(key)
    if template is None or not template.is_active:
        raise NotFound("Template not found")
    return Template.model_validate(template)
