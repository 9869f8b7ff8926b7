"""Tickets' queue, task and event names, defined once for the worker and every caller."""

from typing import Final

from berth_common.tiers import ACCOUNT_TIER_CHANGED

QUEUE: Final = "tickets"


class Task:
    """Dotted names of tickets' Celery tasks: `tickets.<domain>.<verb>`."""

    CHECK_SLA: Final = "tickets.sla.check_breaches"
    AUTO_CLOSE: Final = "tickets.tickets.auto_close"
    SEND_MAIL: Final = "tickets.mail.send"
    REQUEUE_STALE_MAIL: Final = "tickets.mail.requeue_stale"
    PROCESS_INBOUND: Final = "tickets.inbound.process"
    INBOUND_UPKEEP: Final = "tickets.inbound.upkeep"


# what tickets react to: monitoring's incidents (a ticket about an app in an incident links)
INCIDENT_OPENED: Final = "monitoring.incident.opened"
INCIDENT_RESOLVED: Final = "monitoring.incident.resolved"

# billing's word on a customer's tier (the SLA policies of their new tickets)
TIER_CHANGED: Final = ACCOUNT_TIER_CHANGED

CONSUMED_EVENTS: Final = (INCIDENT_OPENED, INCIDENT_RESOLVED, TIER_CHANGED)
