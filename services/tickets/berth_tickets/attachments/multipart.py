"""Reading one uploaded file from a multipart body as it streams in, never past the limit.

The framework's form parser would first spool the whole body; this reads the request's
chunks itself, keeps the file part (`file`) in a spooled temporary file, hashes it on the
way, and stops with TooLarge as soon as the file passes `max_bytes` — the rest of the body
is never read.
"""

import hashlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import IO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from berth_common.errors import BerthError, Unprocessable
from berth_tickets.attachments.content import SNIFF_BYTES

FILE_FIELD = "file"
# room for the part headers and the boundaries around the file
ENVELOPE_BYTES = 16 * 1024
SPOOL_IN_MEMORY_BYTES = 1024 * 1024


class TooLarge(BerthError):
    status_code = 413
    code = "attachment_too_large"


class BadUpload(Unprocessable):
    code = "invalid_upload"


@dataclass
class Upload:
    """The file a client sent: its bytes (spooled), their first SNIFF_BYTES, size, sha256."""

    filename: str | None
    spool: IO[bytes]
    size: int = 0
    head: bytes = b""
    sha256: str = ""
    _hash: "hashlib._Hash" = field(default_factory=hashlib.sha256, repr=False)

    def close(self) -> None:
        self.spool.close()


def boundary_of(content_type: str | None) -> bytes:
    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary or len(boundary) > 200:
        raise BadUpload("Send the file as multipart/form-data in a field named 'file'.")
    return boundary


async def read_upload(
    content_type: str | None,
    content_length: str | None,
    chunks: AsyncIterator[bytes],
    max_bytes: int,
) -> Upload:
    """The one file of the body; TooLarge past `max_bytes` (known from Content-Length before
    reading, or found while reading), BadUpload when there is no file or more than one."""
    boundary = boundary_of(content_type)
    limit = f"Files may be at most {max_bytes // 1024} KiB."
    if content_length is not None:
        if not content_length.isdigit():
            raise BadUpload("Invalid Content-Length.")
        if int(content_length) > max_bytes + ENVELOPE_BYTES:
            raise TooLarge(limit, details={"max_bytes": max_bytes})

    state: dict[str, object] = {"field": b"", "value": b"", "headers": {}}
    found: list[Upload] = []
    current: list[Upload | None] = [None]

    def on_part_begin() -> None:
        state["headers"] = {}
        current[0] = None

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] = state["field"] + data[start:end]  # type: ignore[operator]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] = state["value"] + data[start:end]  # type: ignore[operator]

    def on_header_end() -> None:
        headers: dict[bytes, bytes] = state["headers"]  # type: ignore[assignment]
        headers[bytes(state["field"]).lower()] = bytes(state["value"])  # type: ignore[arg-type]
        state["field"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        headers: dict[bytes, bytes] = state["headers"]  # type: ignore[assignment]
        _, options = parse_options_header(headers.get(b"content-disposition", b""))
        if options.get(b"name") != FILE_FIELD.encode() or b"filename" not in options:
            return  # another field: its data is skipped
        if found:
            raise BadUpload("Send one file per request.")
        raw_name = options[b"filename"].decode("utf-8", errors="replace")
        upload = Upload(raw_name, tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY_BYTES))
        found.append(upload)
        current[0] = upload

    def on_part_data(data: bytes, start: int, end: int) -> None:
        upload = current[0]
        if upload is None:
            return
        piece = data[start:end]
        upload.size += len(piece)
        if upload.size > max_bytes:
            raise TooLarge(limit, details={"max_bytes": max_bytes})
        if len(upload.head) < SNIFF_BYTES:
            upload.head += piece[: SNIFF_BYTES - len(upload.head)]
        upload._hash.update(piece)
        upload.spool.write(piece)

    def on_part_end() -> None:
        current[0] = None

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    received = 0
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > max_bytes + ENVELOPE_BYTES:
                raise TooLarge(limit, details={"max_bytes": max_bytes})
            parser.write(chunk)
        parser.finalize()
    except BerthError:
        for upload in found:
            upload.close()
        raise
    except MultipartParseError as exc:  # a malformed body
        for upload in found:
            upload.close()
        raise BadUpload("The multipart body could not be read.") from exc
    if not found:
        raise BadUpload("Send the file in a multipart field named 'file'.")
    upload = found[0]
    upload.sha256 = upload._hash.hexdigest()
    upload.spool.seek(0)
    return upload
