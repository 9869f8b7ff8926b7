"""Departments, their agents' round-robin, and canned replies with safe variables."""

import re
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import Conflict, NotFound, Unprocessable
from berth_tickets.departments.dao import AgentDAO, CannedReplyDAO, DepartmentDAO
from berth_tickets.models import CannedReply, Department, DepartmentAgent
from berth_tickets.upstream import Upstream

#: {{name}} with optional spaces inside the braces; only these names exist
VARIABLE = re.compile(r"\{\{\s*([a-z_]{1,40})\s*\}\}")
VARIABLES = (
    "customer_name",
    "customer_email",
    "ticket_number",
    "ticket_subject",
    "department",
    "agent_name",
)


class UnknownVariable(Unprocessable):
    code = "unknown_variable"


class DepartmentNotFound(NotFound):
    code = "department_not_found"


class NotSupportStaff(Unprocessable):
    """Tickets go only to people with the support or admin role."""

    code = "not_support_staff"


async def require_staff(upstream: Upstream, user_id: uuid.UUID) -> None:
    if not await upstream.is_staff(user_id):
        raise NotSupportStaff("That person is not support staff")


def check_variables(body: str) -> None:
    unknown = sorted({name for name in VARIABLE.findall(body) if name not in VARIABLES})
    if unknown:
        raise UnknownVariable(
            "Unknown variables in the reply", details={"unknown": unknown, "known": VARIABLES}
        )


def render(body: str, values: dict[str, str]) -> str:
    """One pass over the template: each {{name}} becomes its value as plain text; a value
    that itself looks like {{x}} stays as written (never substituted again, never code)."""
    check_variables(body)
    return VARIABLE.sub(lambda m: values.get(m.group(1), ""), body)


async def department(session: AsyncSession, department_id: uuid.UUID) -> Department:
    found = await DepartmentDAO(session).get(department_id)
    if found is None:
        raise DepartmentNotFound("Department not found")
    return found


async def active_by_slug(session: AsyncSession, slug: str) -> Department:
    found = await DepartmentDAO(session).by_slug(slug)
    if found is None or not found.is_active:
        raise DepartmentNotFound(f"No open department {slug!r}")
    return found


async def listing(session: AsyncSession, *, active_only: bool) -> list[Department]:
    return await DepartmentDAO(session).all(active_only=active_only)


async def create(session: AsyncSession, values: dict[str, Any]) -> Department:
    if await DepartmentDAO(session).by_slug(values["slug"]) is not None:
        raise Conflict(f"Department {values['slug']!r} exists")
    return await DepartmentDAO(session).create(**values)


async def update(session: AsyncSession, department_id: uuid.UUID, values: dict) -> Department:
    found = await department(session, department_id)
    return await DepartmentDAO(session).update(found, **values)


async def agents(session: AsyncSession, department_id: uuid.UUID) -> list[DepartmentAgent]:
    await department(session, department_id)
    return await AgentDAO(session).of_department(department_id)


async def put_agent(
    session: AsyncSession,
    upstream: Upstream,
    department_id: uuid.UUID,
    agent_id: uuid.UUID,
    is_active: bool,
) -> DepartmentAgent:
    await department(session, department_id)
    if is_active:
        await require_staff(upstream, agent_id)
    dao = AgentDAO(session)
    found = await dao.one(department_id, agent_id)
    if found is None:
        return await dao.create(department_id=department_id, agent_id=agent_id, is_active=is_active)
    return await dao.update(found, is_active=is_active)


async def remove_agent(
    session: AsyncSession, department_id: uuid.UUID, agent_id: uuid.UUID
) -> None:
    found = await AgentDAO(session).one(department_id, agent_id)
    if found is None:
        raise NotFound("Not an agent of this department")
    await AgentDAO(session).delete(found)


async def next_agent(
    session: AsyncSession, department_id: uuid.UUID, at: datetime
) -> uuid.UUID | None:
    """Round-robin: the department's active agent assigned longest ago takes the ticket."""
    await DepartmentDAO(session).lock(department_id)
    agent = await AgentDAO(session).next_in_rotation(department_id)
    if agent is None:
        return None
    await AgentDAO(session).touch(agent, at)
    return agent.agent_id


async def canned_replies(
    session: AsyncSession, department_id: uuid.UUID | None
) -> list[CannedReply]:
    return await CannedReplyDAO(session).for_department(department_id)


async def canned_reply(session: AsyncSession, reply_id: uuid.UUID) -> CannedReply:
    return await CannedReplyDAO(session).get_or_404(reply_id)


async def create_canned(session: AsyncSession, values: dict, author: uuid.UUID) -> CannedReply:
    check_variables(values["body"])
    if values.get("department_id") is not None:
        await department(session, values["department_id"])
    return await CannedReplyDAO(session).create(**values, created_by=author)


async def update_canned(session: AsyncSession, reply_id: uuid.UUID, values: dict) -> CannedReply:
    found = await canned_reply(session, reply_id)
    if "body" in values:
        check_variables(values["body"])
    if values.get("department_id") is not None:
        await department(session, values["department_id"])
    return await CannedReplyDAO(session).update(found, **values)


async def delete_canned(session: AsyncSession, reply_id: uuid.UUID) -> None:
    await CannedReplyDAO(session).delete(await canned_reply(session, reply_id))
