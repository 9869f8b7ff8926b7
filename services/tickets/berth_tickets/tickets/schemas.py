"""What customers send and see. Nothing here has a field for internal notes, the staff
context, events or SLA internals: the customer API cannot return what it cannot express."""

import re
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from berth_common.pagination import Page
from berth_tickets.enums import AuthorKind, LinkKind, MessageVia, Priority, TicketStatus

# control characters other than tab, line feed and carriage return
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean_line(value: str) -> str:
    value = " ".join(value.split())
    if not value or _CONTROL.search(value):
        raise ValueError("must be a non-empty line of text")
    return value


def _clean_text(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value.replace("\r\n", "\n")


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


Subject = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean_line)]
Body = Annotated[str, Field(min_length=1, max_length=20_000), AfterValidator(_clean_text)]
#: a search's text: any words, but no control character (PostgreSQL refuses a NUL byte)
SearchText = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_control)]
#: free text that may be empty (a description)
PlainText = Annotated[str, Field(max_length=500), AfterValidator(_no_control)]
Slug = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]*$")]


class Link(BaseModel):
    kind: LinkKind
    id: uuid.UUID


class TicketCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: Slug
    priority: Priority = Priority.NORMAL
    subject: Subject
    body: Body
    link: Link | None = None


class ServiceTicketCreate(BaseModel):
    """A ticket a platform service (chat) opens on a customer's behalf, e.g. with a
    conversation's transcript as its first message."""

    model_config = ConfigDict(extra="forbid")

    owner_id: uuid.UUID
    department: Slug
    priority: Priority = Priority.NORMAL
    subject: Subject
    body: Body

    def as_customer(self) -> TicketCreate:
        return TicketCreate(
            department=self.department,
            priority=self.priority,
            subject=self.subject,
            body=self.body,
        )


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Body


class ReopenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Body | None = Field(None, description="why it is not solved (a public message)")


class RatingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)
    comment: Annotated[str, Field(max_length=1000)] | None = None


class Message(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    author_kind: AuthorKind
    body: str
    via: MessageVia
    created_at: datetime


class Department(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    slug: str
    name: str
    description: str


class Ticket(BaseModel):
    id: uuid.UUID
    number: str = Field(description="T-000123")
    department: str = Field(description="the department's slug")
    subject: str
    status: TicketStatus
    priority: Priority
    link: Link | None
    merged_into: str | None = Field(None, description="the number of the ticket it joined")
    rating: int | None
    rating_comment: str | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class TicketDetail(Ticket):
    messages: list[Message]


class TicketPage(Page[Ticket]):
    pass
