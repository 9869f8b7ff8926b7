"""The template catalog, for anyone signed in."""

from fastapi import APIRouter, Depends

from berth_common.db import SessionDep
from berth_common.errors import NotFound, Unauthorized, error_responses
from berth_common.security import current_principal
from berth_deploy.templates.dao import TemplateDAO
from berth_deploy.templates.schemas import TemplateOut

router = APIRouter(
    prefix="/api/deploy/v1/templates",
    tags=["templates"],
    dependencies=[Depends(current_principal)],
    responses=error_responses(Unauthorized),
)


@router.get("", response_model=list[TemplateOut])
async def list_templates(session: SessionDep) -> list[TemplateOut]:
    return [TemplateOut.model_validate(t) for t in await TemplateDAO(session).active()]


@router.get("/{key}", response_model=TemplateOut, responses=error_responses(NotFound))
async def get_template(key: str, session: SessionDep) -> TemplateOut:
    template = await TemplateDAO(session).get(key)
    if template is None or not template.is_active:
        raise NotFound("Template not found")
    return TemplateOut.model_validate(template)
