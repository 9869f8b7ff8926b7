"""Per-release log files: build.log (clone and build steps) and run.log (every instance of the
release appends; the app writes its stdout/stderr straight into it).

Offsets are byte offsets into the file; they are the SSE event ids, so a client resumes
exactly where it stopped.
"""

import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from berth_deploy.enums import LogKind

KINDS = frozenset(LogKind)
PLATFORM_PREFIX = "[berth]"


@dataclass(frozen=True)
class LogLine:
    end: int  # byte offset just after this line: resume from here
    text: str


class LogStore:
    def __init__(self, data_dir: Path):
        self.root = data_dir / "logs"

    def path(self, app_id: uuid.UUID, release_id: uuid.UUID, kind: LogKind) -> Path:
        if kind not in KINDS:
            raise ValueError(kind)
        return self.root / str(app_id) / str(release_id) / f"{kind}.log"

    def prepare(self, app_id: uuid.UUID, release_id: uuid.UUID) -> None:
        directory = self.root / str(app_id) / str(release_id)
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)

    def note(self, path: Path, message: str) -> None:
        """A line from the platform itself (what it is doing, why a step failed)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        line = f"{PLATFORM_PREFIX} {stamp} {message}\n".encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def size(self, path: Path) -> int:
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0

    def read(self, path: Path, offset: int, max_bytes: int) -> tuple[list[LogLine], int]:
        """Whole lines from `offset`, at most about `max_bytes`; and the offset to go on from.

        A line still being written (no newline yet) is left for the next read, unless it
        alone exceeds `max_bytes` (then it is served in pieces).
        """
        try:
            with path.open("rb") as f:
                f.seek(offset)
                chunk = f.read(max_bytes)
        except FileNotFoundError:
            return [], offset
        cut = chunk.rfind(b"\n")
        if cut < 0:
            if len(chunk) < max_bytes:
                return [], offset
            cut = len(chunk) - 1
        chunk = chunk[: cut + 1]
        lines, position = [], offset
        for raw in chunk.splitlines(keepends=True):
            position += len(raw)
            text = raw.rstrip(b"\n").decode("utf-8", errors="replace").replace("\r", "")
            lines.append(LogLine(position, text))
        return lines, position


def scrub(text: str, secrets: list[str]) -> str:
    """Replace every secret env value in a served line (longest first, so none leaks in part)."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "[secret]")
    return text


def scrub_list(values: list[str]) -> list[str]:
    """The secret values worth scrubbing: long enough not to blank out ordinary words."""
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)
