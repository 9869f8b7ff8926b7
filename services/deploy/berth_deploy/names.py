"""The names deploy's messages travel under, defined once: its queue, its task, and the
billing events it consumes (the events it publishes are named in events.py)."""

QUEUE = "deploy"
# each node's worker also consumes its own queue: the operations of the apps placed on it
NODE_QUEUE_PREFIX = "deploy.node."
RUN_OPERATION_TASK = "deploy.operations.run"
EXPIRE_PREVIEWS_TASK = "deploy.previews.expire"
POLL_TASK = "deploy.polling.run"
PURGE_CONSOLE_TOKENS_TASK = "deploy.vps.console.purge_tokens"
ACCOUNT_SUSPENDED = "billing.account.suspended"
ACCOUNT_UNSUSPENDED = "billing.account.unsuspended"
VPS_RUN_TASK = "deploy.vps.run"


def node_queue(node: str) -> str:
    return f"{NODE_QUEUE_PREFIX}{node}"
