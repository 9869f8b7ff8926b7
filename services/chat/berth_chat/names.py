"""Chat's queue, task, exchange and event names, defined once for the worker and every caller."""

from typing import Final

from berth_common.tiers import ACCOUNT_TIER_CHANGED

QUEUE: Final = "chat"
#: the topic exchange web replicas fan messages out over (batches from replicas, routing key
#: `batch`; single frames from workers, routing key the conversation id); each
#: replica binds its own exclusive auto-delete queue `chat.fanout.<host>.<pid>.<random>`
FANOUT_EXCHANGE: Final = "chat.fanout"
FANOUT_QUEUE_PREFIX: Final = "chat.fanout."


class Task:
    """Dotted names of chat's Celery tasks: `chat.<domain>.<verb>`."""

    ASK_AGENT: Final = "chat.agents.ask"
    PURGE_OLD: Final = "chat.retention.purge"


# billing's word on a customer's tier (retention per tier)
CONSUMED_EVENTS: Final = (ACCOUNT_TIER_CHANGED,)
