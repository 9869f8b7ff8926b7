import uuid

from pydantic import BaseModel, Field

from berth_deploy.enums import LogKind


class LogLine(BaseModel):
    offset: int = Field(description="byte offset just after the line: pass it to resume")
    text: str


class LogPage(BaseModel):
    release_id: uuid.UUID
    kind: LogKind
    offset: int
    next_offset: int
    size: int
    lines: list[LogLine]
