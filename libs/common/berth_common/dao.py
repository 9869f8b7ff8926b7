"""The generic async DAO: typed CRUD, filtering, sorting and pagination in one place.

DAOs only flush; the session owner (request dependency or task wrapper) commits.
"""

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute

from berth_common.errors import NotFound, Unprocessable
from berth_common.pagination import PageParams

ModelT = TypeVar("ModelT", bound=DeclarativeBase)


class BaseDAO(Generic[ModelT]):
    model: type[ModelT]
    #: columns a client may sort by (name -> column); the first entry of default_sort applies
    sortable: dict[str, InstrumentedAttribute[Any]] = {}
    default_sort: Sequence[Any] = ()
    not_found_message = "Not found"

    def __init__(self, session: AsyncSession):
        self.session = session

    async def get(self, id_: Any) -> ModelT | None:
        return await self.session.get(self.model, id_)

    async def get_or_404(self, id_: Any) -> ModelT:
        obj = await self.get(id_)
        if obj is None:
            raise NotFound(self.not_found_message)
        return obj

    async def get_by(self, *where: Any, **filters: Any) -> ModelT | None:
        stmt = select(self.model).where(*where).filter_by(**filters).limit(1)
        return (await self.session.execute(stmt)).scalars().first()

    async def create(self, **values: Any) -> ModelT:
        obj = self.model(**values)
        self.session.add(obj)
        await self.session.flush()
        return obj

    async def update(self, obj: ModelT, **values: Any) -> ModelT:
        for key, value in values.items():
            setattr(obj, key, value)
        await self.session.flush()
        return obj

    async def delete(self, obj: ModelT) -> None:
        await self.session.delete(obj)
        await self.session.flush()

    def base_query(self) -> Select[tuple[ModelT]]:
        return select(self.model)

    def _order(self, stmt: Select[Any], sort: str | None) -> Select[Any]:
        if sort:
            desc = sort.startswith("-")
            column = self.sortable.get(sort.lstrip("-"))
            if column is None:
                raise Unprocessable(
                    f"Cannot sort by {sort.lstrip('-')!r}",
                    details={"sortable": sorted(self.sortable)},
                )
            stmt = stmt.order_by(column.desc() if desc else column.asc())
        return stmt.order_by(*self.default_sort)

    async def list(
        self, params: PageParams, *where: Any, stmt: Select[Any] | None = None
    ) -> tuple[list[ModelT], int]:
        """One page of rows matching `where`, and the total count of matching rows."""
        base = (stmt if stmt is not None else self.base_query()).where(*where)
        total = (
            await self.session.execute(select(func.count()).select_from(base.subquery()))
        ).scalar_one()
        page_stmt = self._order(base, params.sort).offset(params.offset).limit(params.size)
        items = list((await self.session.execute(page_stmt)).scalars().all())
        return items, total
