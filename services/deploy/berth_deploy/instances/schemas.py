"""The liveness of the processes that should be running, for monitoring's batched poll."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class InstanceLiveness(BaseModel):
    app_id: uuid.UUID
    instance_id: uuid.UUID
    owner_id: uuid.UUID
    release_id: uuid.UUID
    node: str
    process_type: Literal["web", "worker"]
    # the supervisor saw the process up at its last tick (and it ticked recently)
    alive: bool
    # running: up; crashed: exited, restart pending; unknown: the node's supervisor is silent
    state: Literal["running", "crashed", "unknown"]
    # since when the state holds (for unknown: the supervisor's last tick, if it ever ticked)
    since: datetime | None
    restarts: int
    # why it is not alive: how the process last ended, or why nobody knows
    reason: str | None
    # the last tick of the node's supervisor
    observed_at: datetime | None


class LivenessPage(BaseModel):
    items: list[InstanceLiveness]
    # the database's time of this answer
    checked_at: datetime
    # pass as `after` for the next page; null on the last page
    next_after: uuid.UUID | None
