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

    async def list_all(self, *where) -> tuple[list[Template], int]:
        from sqlalchemy import select

        stmt = select(Template).where(*where).order_by(Template.key)
        rows = list((await self.session.execute(stmt)).scalars().all())
        return rows, len(rows)
