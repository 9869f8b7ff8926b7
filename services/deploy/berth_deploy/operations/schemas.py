import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from berth_common.pagination import Page


class Operation(BaseModel):
    id: uuid.UUID
    app_id: uuid.UUID
    kind: str
    status: str
    step: str | None
    reason: str | None
    release_id: uuid.UUID | None
    origin: str
    attempt: int
    cancel_requested: bool
    trigger: str
    commit_sha: str | None
    commit_author: str | None
    commit_message: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, op) -> "Operation":
        return cls(
            id=op.id,
            app_id=op.app_id,
            kind=op.kind,
            status=op.status,
            step=op.step,
            reason=op.reason,
            release_id=op.release_id,
            origin=op.origin,
            attempt=op.attempt,
            cancel_requested=op.cancel_requested_at is not None,
            trigger=op.trigger,
            commit_sha=op.commit_sha,
            commit_author=op.commit_author,
            commit_message=op.commit_message,
            created_at=op.created_at,
            started_at=op.started_at,
            finished_at=op.finished_at,
        )


class DeploymentCreate(BaseModel):
    """Build the branch's latest commit and roll it out."""

    model_config = ConfigDict(extra="forbid")


class RollbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    release_id: uuid.UUID | None = None


class Release(BaseModel):
    id: uuid.UUID
    number: int
    commit_sha: str | None
    branch: str
    status: str
    error: str | None
    created_by: uuid.UUID
    created_at: datetime
    built_at: datetime | None
    current: bool = False

    model_config = ConfigDict(from_attributes=True)


class OperationPage(Page[Operation]):
    pass


class ReleasePage(Page[Release]):
    pass
