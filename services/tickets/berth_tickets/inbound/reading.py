"""Reading a received email (stdlib `email`, policy.default): is it an automatic message,
who sent it, and what the person wrote above the quoted history and signature."""

import email
import hashlib
import html
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import cast

import nh3
from mailparser_reply import EmailReplyParser

#: Precedence values that mark mass or automatic mail (RFC 3834 section 3.1.8, RFC 2076)
AUTOMATIC_PRECEDENCE = frozenset({"bulk", "auto_reply", "junk", "list"})
#: senders of bounces (the envelope sender of a bounce is empty: RFC 5321 section 4.5.5)
BOUNCE_SENDERS = ("mailer-daemon@", "postmaster@")
_REPLIES = EmailReplyParser(languages=["en", "de", "fr", "es", "it", "nl", "pl", "sv"])


@dataclass(frozen=True)
class Received:
    message: EmailMessage
    message_id: str  # the header's, else one derived from the content (stable per mail)
    in_reply_to: str | None
    from_address: str
    subject: str


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):  # a header the parser cannot make sense of
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def read(raw: bytes) -> Received:
    message = cast(EmailMessage, email.message_from_bytes(raw, policy=default_policy))
    message_id = _header(message, "Message-ID")[:998]
    if not message_id:
        message_id = f"<sha256-{hashlib.sha256(raw).hexdigest()}@berth.inbound>"
    from_address = ""
    try:
        addresses = message["From"].addresses if message["From"] is not None else ()
        from_address = addresses[0].addr_spec if addresses else ""
    except (AttributeError, IndexError, ValueError, TypeError):
        from_address = ""
    return Received(
        message=message,
        message_id=message_id,
        in_reply_to=_header(message, "In-Reply-To")[:998] or None,
        from_address=from_address.lower()[:254],
        subject=_header(message, "Subject")[:998],
    )


def unreadable(raw: bytes) -> Received:
    """What is recorded of a mail the parser gave up on: its size and a content hash."""
    return Received(
        message=EmailMessage(),
        message_id=f"<sha256-{hashlib.sha256(raw).hexdigest()}@berth.inbound>",
        in_reply_to=None,
        from_address="",
        subject="",
    )


def automatic_reason(received: Received, mail_from: str) -> str | None:
    """Why this mail was written by a machine (an out-of-office, a bounce, a list), else None.
    Such mail never becomes a message or a notification: that is how loops are avoided."""
    message = received.message
    auto_submitted = _header(message, "Auto-Submitted").lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {auto_submitted[:60]}"
    for name in ("X-Autoreply", "X-Autorespond"):
        if message.get(name) is not None:
            return f"{name} present"
    precedence = _header(message, "Precedence").lower()
    if precedence in AUTOMATIC_PRECEDENCE:
        return f"Precedence: {precedence}"
    if message.get_content_type() == "multipart/report":
        return "a delivery or read report (multipart/report)"
    if not mail_from.strip("<> "):
        return "empty return path (a bounce)"
    sender = (mail_from.strip("<> ") or received.from_address).lower()
    if sender.startswith(BOUNCE_SENDERS) or received.from_address.startswith(BOUNCE_SENDERS):
        return "sent by a mailer daemon (a bounce)"
    return None


def _text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):  # an unknown charset or a broken part
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", errors="replace")
    if not isinstance(content, str):
        return ""
    if part.get_content_type() == "text/html":
        # only the text: every tag goes, entities stay escaped as text
        content = nh3.clean(content, tags=set(), clean_content_tags={"script", "style"})
        content = html.unescape(content)
    return content.replace("\r\n", "\n")


def reply_text(received: Received) -> str:
    """What the person wrote: the newest part of the reply without the quoted history and
    the signature; the whole text when the parser finds nothing above the quote."""
    text = _text_of(received.message).strip()
    if not text:
        return ""
    try:
        latest = _REPLIES.read(text=text).replies
        newest = latest[0].body.strip() if latest else ""
    except Exception:  # a parser failure keeps the whole text: nothing the person wrote is lost
        newest = ""
    return newest or text
