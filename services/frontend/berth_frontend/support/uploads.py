"""Files sent with a form (an <input type=file multiple name=files>), passed on to tickets
one by one after the message they belong to exists; each refusal is reported by name."""

import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from berth_frontend.web.backends import ApiError, ServiceDown

FILES_FIELD = "files"
MAX_FILES = 5
#: what one form may carry in all (the tickets service checks each file's own limit)
MAX_FORM_BYTES = 45 * 1024 * 1024
#: the forms that carry files: a new ticket, a reply, staff's reply and note
UPLOAD_PATHS = re.compile(
    r"/partials/support(/[0-9a-f-]{36}/reply)?"
    r"|/support/partials/tickets/[0-9a-f-]{36}/(reply|notes)"
)


class TooManyFiles(Exception):
    pass


async def files_of(request: Request) -> list[UploadFile]:
    """The non-empty files of the form; TooManyFiles past MAX_FILES."""
    form = await request.form()
    found = [
        item
        for item in form.getlist(FILES_FIELD)
        if isinstance(item, UploadFile) and item.filename and (item.size or 0) > 0
    ]
    if len(found) > MAX_FILES:
        raise TooManyFiles(f"Attach at most {MAX_FILES} files at a time.")
    return found


async def send_files(
    files: list[UploadFile], send: Callable[[str, bytes], Awaitable[Any]]
) -> list[str]:
    """Send each file; the problems, one line per refused file (empty: all went through)."""
    problems: list[str] = []
    for item in files:
        content = await item.read()
        try:
            await send(item.filename or "attachment", content)
        except ApiError as exc:
            if exc.status == 401:
                raise
            problems.append(f"{item.filename}: {exc.message}")
        except ServiceDown as exc:
            problems.append(f"{item.filename}: {exc.label} is unavailable right now")
    return problems
