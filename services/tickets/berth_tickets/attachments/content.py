"""What a file is, judged by its bytes and never by its name, and what it may be called.

Accepted: PNG, JPEG, GIF, WebP, PDF, ZIP, and plain UTF-8 text (logs included). Everything
else is refused, executables first of all (ELF, PE, Mach-O, a `#!` script) whatever their
name says. SVG and HTML are refused too (decision): they are text a browser would run, and
the desk has no need to keep them; a text file is refused when its start reads as markup,
since that is what a browser would sniff. What is accepted is still only ever served as a
download with `nosniff` and a sandboxing CSP (berth_tickets.attachments.api).
"""

import re
import unicodedata
from enum import StrEnum

import filetype

from berth_common.errors import Unprocessable

#: bytes looked at to decide what a file is (browsers sniff the first 512)
SNIFF_BYTES = 8192
MAX_FILENAME_CHARS = 120


class Accepted(StrEnum):
    PNG = "image/png"
    JPEG = "image/jpeg"
    GIF = "image/gif"
    WEBP = "image/webp"
    PDF = "application/pdf"
    ZIP = "application/zip"
    TEXT = "text/plain"


class RefusedContent(Unprocessable):
    code = "attachment_type_refused"


_BINARY = {kind.value for kind in Accepted if kind is not Accepted.TEXT}
_EXECUTABLE_MAGIC = (
    b"\x7fELF",  # ELF
    b"MZ",  # PE / DOS
    b"\xfe\xed\xfa\xce",  # Mach-O 32
    b"\xfe\xed\xfa\xcf",  # Mach-O 64
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",  # Mach-O universal (and Java class)
    b"#!",  # a script for an interpreter
)
# what a browser would take for markup at the start of a "text" file
_MARKUP = re.compile(
    rb"^\s*(<\?xml|<!doctype|<html|<svg|<script|<head|<body|<iframe|<!--|<\w+[^>]*xmlns)",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UNSAFE = re.compile(r'[<>:"/\\|?*;]')


def sniff(head: bytes) -> str:
    """The accepted content type of a file starting with `head`, or RefusedContent."""
    if not head:
        raise RefusedContent("The file is empty.")
    stripped = head.lstrip(b"\xef\xbb\xbf")
    if any(stripped.startswith(magic) for magic in _EXECUTABLE_MAGIC):
        raise RefusedContent("Executable files are not accepted.")
    guessed = filetype.guess_mime(head)
    if guessed is not None:
        if guessed in _BINARY:
            return guessed
        raise RefusedContent(
            f"Files of type {guessed} are not accepted.", details={"detected": guessed}
        )
    if _is_text(head):
        if _MARKUP.match(stripped):
            raise RefusedContent("HTML, SVG and other markup files are not accepted.")
        return Accepted.TEXT.value
    raise RefusedContent(
        "Only images (PNG, JPEG, GIF, WebP), PDF, ZIP and plain text files are accepted."
    )


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of the sniffed bytes is still text
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    controls = sum(1 for ch in text if _CONTROL.match(ch) and ch not in "\t\n\r\f")
    return controls <= len(text) // 100


def safe_filename(raw: str | None, content_type: str) -> str:
    """A display name from what the client called the file: no folders, no control or
    shell-special characters, at most MAX_FILENAME_CHARS; never used as a storage path."""
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _CONTROL.sub("", name)
    name = _UNSAFE.sub("_", name)
    name = " ".join(name.split()).strip(" .")
    if not name:
        name = "attachment" + _EXTENSIONS.get(content_type, "")
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: MAX_FILENAME_CHARS - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:MAX_FILENAME_CHARS].rstrip(" .")
    return name


_EXTENSIONS = {
    Accepted.PNG: ".png",
    Accepted.JPEG: ".jpg",
    Accepted.GIF: ".gif",
    Accepted.WEBP: ".webp",
    Accepted.PDF: ".pdf",
    Accepted.ZIP: ".zip",
    Accepted.TEXT: ".txt",
}
