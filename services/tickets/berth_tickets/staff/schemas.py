"""What support staff send and see: the queue, a ticket with its context, notes, events and
SLA timers, and the desk's settings (departments, canned replies, SLA policies, calendars)."""

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from berth_common.pagination import Page
from berth_tickets.enums import Priority, SlaState, TicketStatus
from berth_tickets.tickets.schemas import Body, Message, Slug, Subject, Ticket


class Sla(BaseModel):
    state: SlaState
    paused: bool
    due: dict[str, datetime]
    seconds_left: dict[str, float] = Field(description="business seconds; negative: breached")
    breached: dict[str, datetime]


class StaffTicket(Ticket):
    owner_id: uuid.UUID
    assignee_id: uuid.UUID | None
    plan_tier: str
    reopened_count: int
    first_responded_at: datetime | None
    sla: Sla


class StaffTicketPage(Page[StaffTicket]):
    pass


class Note(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ticket_id: uuid.UUID
    author_id: uuid.UUID
    body: str
    created_at: datetime


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Body


class Event(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    actor_id: uuid.UUID | None
    data: dict[str, Any]
    created_at: datetime


class IncidentRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    status: str
    app_id: uuid.UUID | None
    opened_at: datetime
    resolved_at: datetime | None


class StaffTicketDetail(StaffTicket):
    context: dict[str, Any]
    messages: list[Message]
    notes: list[Note]
    events: list[Event]
    incidents: list[IncidentRef]


ReplyStatus = Literal["waiting_customer", "open", "closed"]


class StaffReply(BaseModel):
    """A public reply: `body`, or a canned reply (its variables filled in), or both (the
    canned text first)."""

    model_config = ConfigDict(extra="forbid")

    body: Body | None = None
    canned_reply_id: uuid.UUID | None = None
    status: ReplyStatus = "waiting_customer"

    @model_validator(mode="after")
    def _something(self) -> "StaffReply":
        if self.body is None and self.canned_reply_id is None:
            raise ValueError("a reply needs a body or a canned_reply_id")
        return self


class IncidentReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Body
    status: ReplyStatus = "waiting_customer"


class IncidentReplyResult(BaseModel):
    replied: list[uuid.UUID]
    skipped: list[uuid.UUID] = Field(description="closed or merged tickets, left alone")


class Assignment(BaseModel):
    """`assignee_id` (null: unassigned), or `round_robin: true` for the department's next."""

    model_config = ConfigDict(extra="forbid")

    assignee_id: uuid.UUID | None = None
    round_robin: bool = False


class TicketChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ReplyStatus | None = None
    priority: Priority | None = None
    subject: Subject | None = None


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into_ticket_id: uuid.UUID


class QueueFilter(BaseModel):
    department: Slug | None = None
    status: TicketStatus | None = None
    priority: Priority | None = None
    assignee: Literal["me", "none"] | uuid.UUID | None = Field(
        None, description="me, none or a user id"
    )
    sla: SlaState | None = None
    q: str | None = Field(None, min_length=1, max_length=200)


# -- the desk's settings (admins) --------------------------------------------------------


class DepartmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    slug: str
    name: str
    description: str
    is_active: bool


class DepartmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug
    name: Subject
    description: str = Field("", max_length=500)
    is_active: bool = True


class DepartmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Subject | None = None
    description: str | None = Field(None, max_length=500)
    is_active: bool | None = None


class Agent(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    agent_id: uuid.UUID
    is_active: bool
    last_assigned_at: datetime | None


class AgentPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_active: bool = True


class CannedReply(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    department_id: uuid.UUID | None
    title: str
    body: str
    created_at: datetime
    updated_at: datetime


class CannedReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department_id: uuid.UUID | None = None
    title: Subject
    body: Body


class CannedReplyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department_id: uuid.UUID | None = None
    title: Subject | None = None
    body: Body | None = None


Minutes = Field(ge=1, le=60 * 24 * 365)


class SlaPolicy(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    plan_tier: str
    priority: Priority
    first_response_minutes: int
    next_response_minutes: int
    resolution_minutes: int
    calendar_id: uuid.UUID | None


class SlaPolicyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_tier: Slug = Field(description="a plan tier, or `default` for tiers without their own")
    priority: Priority
    first_response_minutes: int = Minutes
    next_response_minutes: int = Minutes
    resolution_minutes: int = Minutes
    calendar_id: uuid.UUID | None = None


class SlaPolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_response_minutes: int | None = Field(None, ge=1, le=60 * 24 * 365)
    next_response_minutes: int | None = Field(None, ge=1, le=60 * 24 * 365)
    resolution_minutes: int | None = Field(None, ge=1, le=60 * 24 * 365)
    calendar_id: uuid.UUID | None = None


class Calendar(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    timezone: str
    weekly_hours: dict[str, list[list[str]]]
    holidays: list[date]


class CalendarCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Subject
    timezone: str = Field(min_length=1, max_length=64)
    weekly_hours: dict[str, list[list[str]]] = Field(
        description='ISO weekday "1" (Monday) .. "7" → [["09:00", "17:00"], ...]'
    )
    holidays: list[date] = Field(default_factory=list, max_length=1000)


class CalendarUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Subject | None = None
    timezone: str | None = Field(None, min_length=1, max_length=64)
    weekly_hours: dict[str, list[list[str]]] | None = None
    holidays: list[date] | None = Field(None, max_length=1000)
