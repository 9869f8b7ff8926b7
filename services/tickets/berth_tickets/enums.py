"""Tickets' kinds and states, each a StrEnum stored as its value."""

from enum import StrEnum


class TicketStatus(StrEnum):
    """open ⇄ waiting_customer → closed (→ open again by a reopen); merged is final."""

    OPEN = "open"  # the desk owes an answer or a resolution
    WAITING_CUSTOMER = "waiting_customer"  # the desk asked; the SLA clock is paused
    CLOSED = "closed"
    MERGED = "merged"  # folded into another ticket (merged_into_id)


ACTIVE_STATUSES = frozenset({TicketStatus.OPEN, TicketStatus.WAITING_CUSTOMER})


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class LinkKind(StrEnum):
    """What one ticket may be about: one of the customer's own things."""

    APP = "app"
    INVOICE = "invoice"
    INCIDENT = "incident"


class AuthorKind(StrEnum):
    """Who wrote a public message (internal notes are another table, never a kind here)."""

    CUSTOMER = "customer"
    STAFF = "staff"
    SYSTEM = "system"


class MessageVia(StrEnum):
    WEB = "web"
    EMAIL = "email"


class SlaState(StrEnum):
    """What the queue filters on: the nearest running due time of a ticket."""

    OK = "ok"
    AT_RISK = "at_risk"  # less than the at-risk share of its window left
    BREACHED = "breached"


class SlaTarget(StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


class EventKind(StrEnum):
    """The timeline and audit of a ticket (ticket_events.kind)."""

    OPENED = "opened"
    STATUS_CHANGED = "status_changed"
    PRIORITY_CHANGED = "priority_changed"
    ASSIGNED = "assigned"
    MERGED = "merged"  # on the ticket merged away
    MERGED_IN = "merged_in"  # on the ticket that received it
    REOPENED = "reopened"
    CLOSED = "closed"
    AUTO_CLOSED = "auto_closed"
    RATED = "rated"
    SLA_BREACHED = "sla_breached"
    INCIDENT_LINKED = "incident_linked"
    REPLY_ADDRESSES_REVOKED = "reply_addresses_revoked"  # staff raised reply_token_version


class IncidentStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class IncidentLinkOrigin(StrEnum):
    CUSTOMER = "customer"  # the customer linked the incident when opening the ticket
    AUTO = "auto"  # opened about an app during its open incident
    STAFF = "staff"


class InboundOutcome(StrEnum):
    """What became of a received email: every one is recorded, none fails silently."""

    ACCEPTED = "accepted"
    IGNORED_AUTOREPLY = "ignored_autoreply"
    REJECTED_TOKEN = "rejected_token"
    REJECTED_UNKNOWN = "rejected_unknown"
    DUPLICATE = "duplicate"


class NotificationKind(StrEnum):
    """Why the desk writes to someone (notify.service.notify's `kind`)."""

    TICKET_OPENED = "ticket_opened"  # to the customer: we have it
    STAFF_REPLIED = "staff_replied"  # to the customer
    CUSTOMER_REPLIED = "customer_replied"  # to the assignee
    ASSIGNED = "assigned"  # to the new assignee
    SLA_BREACHED = "sla_breached"  # to the assignee
    AUTO_CLOSED = "auto_closed"  # to the customer
    # tickets-mail
    CLOSED = "closed"  # to the customer: staff closed the ticket
    MERGED = "merged"  # to the customer: the ticket joined another one


#: what a customer receives (carries the signed reply address); the rest go to staff
CUSTOMER_NOTIFICATIONS = frozenset(
    {
        NotificationKind.TICKET_OPENED,
        NotificationKind.STAFF_REPLIED,
        NotificationKind.AUTO_CLOSED,
        NotificationKind.CLOSED,
        NotificationKind.MERGED,
    }
)
