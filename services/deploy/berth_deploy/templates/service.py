"""The template catalog: what a person may create apps from, and what staff see."""

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import NotFound
from berth_deploy.models import Template
from berth_deploy.templates.dao import TemplateDAO


async def active_templates(session: AsyncSession) -> list[Template]:
    return await TemplateDAO(session).active()


async def all_templates(session: AsyncSession) -> list[Template]:
    """Retired ones too (staff only)."""
    rows, _ = await TemplateDAO(session).list_all()
    return rows


async def active_template(session: AsyncSession, key: str) -> Template:
    """A retired template is not found: nobody may start an app from it."""
    template = await TemplateDAO(session).get(key)
    if template is None or not template.is_active:
        raise NotFound("Template not found")
    return template
