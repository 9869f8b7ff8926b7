from sqlalchemy import select

from berth_common.dao import BaseDAO
from berth_deploy.models import Template


class TemplateDAO(BaseDAO[Template]):
    model = Template
    sortable = {"key": Template.key, "name": Template.name}
    default_sort = (Template.key,)
    not_found_message = "Template not found"

    async def active(self) -> list[Template]:
        rows, _ = await self.list_all(Template.is_active.is_(True))
        return rows

    async def process_types(self) -> dict[str, str]:
        """key -> process type of every template (retired ones too: old apps still use them)."""
        rows = await self.session.execute(select(Template.key, Template.process_type))
        return {key: process_type for key, process_type in rows.all()}

    async def list_all(self, *where) -> tuple[list[Template], int]:
        stmt = select(Template).where(*where).order_by(Template.key)
        rows = list((await self.session.execute(stmt)).scalars().all())
        return rows, len(rows)
