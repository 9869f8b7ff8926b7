"""Staff views: every app, and the template catalog."""

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import Conflict, NotFound
from berth_deploy.admin.schemas import Isolation
from berth_deploy.config import DeploySettings
from berth_deploy.models import Template
from berth_deploy.templates.dao import TemplateDAO
from berth_deploy.templates.schemas import TemplateCreate, TemplateUpdate


class TemplateExists(Conflict):
    code = "template_exists"


async def create_template(session: AsyncSession, data: TemplateCreate) -> Template:
    dao = TemplateDAO(session)
    if await dao.get(data.key) is not None:
        raise TemplateExists(f"Template {data.key!r} exists")
    return await dao.create(**data.stored())


async def update_template(session: AsyncSession, key: str, data: TemplateUpdate) -> Template:
    """Existing apps pick the change up at their next deploy, start or restart."""
    dao = TemplateDAO(session)
    template = await dao.get(key)
    if template is None:
        raise NotFound("Template not found")
    return await dao.update(template, **data.stored())


def isolation(settings: DeploySettings) -> Isolation:
    warnings = []
    if settings.insecure_shared_network:
        warnings.append(
            "Network isolation is OFF (DEPLOY_INSECURE_SHARED_NETWORK): tenants' apps and "
            "builds share the node's network and can reach its databases, broker and services."
        )
    return Isolation(network_isolation=not settings.insecure_shared_network, warnings=warnings)
