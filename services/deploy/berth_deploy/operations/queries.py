"""Reading operations and releases of an app (the API's lists)."""

import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import NotFound
from berth_common.pagination import PageParams
from berth_deploy.models import App, Operation, Release
from berth_deploy.operations.dao import OperationDAO, ReleaseDAO
from berth_deploy.operations.schemas import ReleaseOut

DEPLOYMENT_KINDS = ("deploy", "rollback")


async def list_operations(
    session: AsyncSession, app_id: uuid.UUID, params: PageParams, kinds: Iterable[str] | None
) -> tuple[list[Operation], int]:
    where = [Operation.app_id == app_id]
    if kinds is not None:
        where.append(Operation.kind.in_(list(kinds)))
    return await OperationDAO(session).list(params, *where)


async def get_operation(
    session: AsyncSession, app_id: uuid.UUID, op_id: uuid.UUID, kinds: Iterable[str] | None
) -> Operation:
    op = await OperationDAO(session).of_app(app_id, op_id)
    if op is None or (kinds is not None and op.kind not in kinds):
        raise NotFound("Operation not found")
    return op


async def list_releases(
    session: AsyncSession, app: App, params: PageParams
) -> tuple[list[ReleaseOut], int]:
    rows, total = await ReleaseDAO(session).list(params, Release.app_id == app.id)
    return [
        ReleaseOut.model_validate(r).model_copy(update={"current": r.id == app.current_release_id})
        for r in rows
    ], total
